# B4: the 40 most probable link pairs (the rest are reported as pruned).
gen-tm -t data/b4.json --model gravity --scale 16 --seed 2 --out $TMP/b4.toml
whatif -t data/b4.json --traffic $TMP/b4.toml --failures double-link --max-pairs 40 --json
