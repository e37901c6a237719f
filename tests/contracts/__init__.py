"""Vendor files the tests read (specs, signature vectors), copied into the repository: a clone needs nothing
beside it. Each system's folder has a SOURCE.md naming where its files come from and which version."""

from pathlib import Path

CONTRACTS = Path(__file__).resolve().parent
