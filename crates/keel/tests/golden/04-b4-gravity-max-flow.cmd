gen-tm -t data/b4.json --model gravity --scale 8 --seed 1 --out $TMP/b4.toml
solve -t data/b4.json --traffic $TMP/b4.toml --json
