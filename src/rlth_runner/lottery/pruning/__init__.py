"""Masks, pruners and pruning schedules."""
