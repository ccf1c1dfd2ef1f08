"""Synthetic twins of the paper's three experiments, each with its ground truth."""
