"""Benchmarks that run outside the test suite: `python -m benchmarks.<name>`."""
