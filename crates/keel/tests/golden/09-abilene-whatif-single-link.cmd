# Every single physical-link failure on the built-in Abilene: local repair and
# full re-optimisation, worst-case link utilisation, availability per class.
whatif --failures single-link --json
