"""Networks with stable layer names, so masks and checkpoints survive growth."""
