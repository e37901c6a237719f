"""Periodic jobs of the Invoice Ninja app (registered with the scheduler in apps.py)."""

from apps.core.sync import sync_all


def sync_incremental() -> int:
    """Queue an incremental sync of every resource of every active Invoice Ninja connection."""
    return sync_all(provider_key="invoiceninja")
