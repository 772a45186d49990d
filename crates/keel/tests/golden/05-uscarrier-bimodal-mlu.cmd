# 300 demands of a bimodal matrix on US Carrier, inverse-capacity paths.
solve -t data/uscarrier.json --traffic crates/keel/tests/golden/data/uscarrier-300.txt --objective mlu --paths 3 --path-metric inv-cap --json
