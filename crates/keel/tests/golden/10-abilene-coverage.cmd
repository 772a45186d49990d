# Protection coverage of the built-in Abilene allocation.
whatif --coverage --json
