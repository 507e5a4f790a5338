"""The lottery-ticket logic between rounds: pruning, the policies, growing a
network, branches off a run, the stopping rules and each round's budget."""
