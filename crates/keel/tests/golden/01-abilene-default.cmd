# The built-in default: Abilene, demo traffic in six classes, strict priority.
solve --json
