# Max-min fairness within classes on B4, with a generated matrix split across classes.
gen-tm -t data/b4.json --model uniform --scale 40 --seed 11 --class-mix voice=0.2,business=0.3,bulk=0.5 --out $TMP/b4.toml
solve -t data/b4.json --traffic $TMP/b4.toml --fairness max-min --paths 3 --json
