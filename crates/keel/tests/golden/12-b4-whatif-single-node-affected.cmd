# B4, every site failing, re-optimising only the affected demands.
gen-tm -t data/b4.json --model gravity --scale 8 --seed 1 --out $TMP/b4.toml
whatif -t data/b4.json --traffic $TMP/b4.toml --failures single-node --reoptimise affected --json
