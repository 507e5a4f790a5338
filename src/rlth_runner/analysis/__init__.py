"""Measures of a trained round: learning distance, supermask accuracy, steps to
99%, instability (linear mode connectivity) and multiply-accumulates."""
