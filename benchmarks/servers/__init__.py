"""Baseline servers the benchmark compares mlws with (each runs in its own virtual environment)."""
