"""Detection in the manner of nuclear safeguards: balances, sequential tests, sampling plans."""
