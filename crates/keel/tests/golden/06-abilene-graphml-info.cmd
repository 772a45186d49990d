topo info -t data/abilene.graphml --default-capacity 10G --json
