"""vecdb benchmarks: `python -m benchmarks --help`."""
