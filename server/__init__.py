"""vecdb gRPC server (issue 8 fills this package)."""
