"""Benchmarks of weightsearch: scripts that print ratios, and ``run.py``, which runs them all."""
