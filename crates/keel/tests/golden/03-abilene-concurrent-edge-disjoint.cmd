solve --objective max-concurrent --path-kind edge-disjoint --paths 3 --no-class-priority --json
