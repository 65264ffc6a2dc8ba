"""A stateful, spec-driven mock of the Xentree API (and the Timeback XP ledger API)."""

__version__ = "0.1.0"
