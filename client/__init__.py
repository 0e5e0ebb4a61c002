"""vecdb Python client SDK (issue 8 fills this package)."""
