topo info -t data/b4.json --json
