"""Runnable benchmark scripts; see docs/benchmarks.md for results."""
