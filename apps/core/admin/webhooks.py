"""Admin for this kernel model (being built)."""
