"""Periodic jobs of the ERPNext app (registered with the scheduler in apps.py)."""

from apps.core.models import SyncRun
from apps.core.sync import sync_all


def sync_incremental() -> int:
    """Every few minutes: what changed since the last high-water mark, for every doctype."""
    return sync_all(provider_key="erpnext")


def sync_full() -> int:
    """Nightly: every row again, because the daily overdue job changes status without bumping `modified`
    and deletions leave nothing to list (NOTES §8.3, §8.4). The kernel marks unseen rows deleted."""
    return sync_all(kind=SyncRun.Kind.FULL, provider_key="erpnext")
