"""Generated per-fork schema modules (scripts/gen_proto.py)."""
