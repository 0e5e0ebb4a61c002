"""Python modules generated from proto/vecdb/v1/*.proto (do not edit by hand: run scripts/gen_proto)."""
