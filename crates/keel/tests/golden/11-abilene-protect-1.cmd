# k-failure-safe TE (FFC) for any single link failure, with the price k = 0, 1, 2.
solve --protect 1 --json
