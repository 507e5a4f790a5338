"""One run of an experiment: prepare the data and network, the round loop (or a
branch's), each round's fit and measures, verification, summary.json."""
