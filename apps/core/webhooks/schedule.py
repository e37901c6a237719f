"""Periodic jobs of the webhook inbox, registered with the kernel scheduler (apps/core/scheduler.py)."""

import importlib.util
import logging

logger = logging.getLogger(__name__)

SWEEP_EVERY_SECONDS = 300
PURGE_EVERY_SECONDS = 3600


def register() -> bool:
    # The scheduler module is written alongside this one; until it exists the jobs are simply not scheduled
    # (`manage.py webhooks sweep|purge` still work).
    if importlib.util.find_spec("apps.core.scheduler") is None:
        logger.info("apps.core.scheduler absent : balayage et purge des webhooks non planifiés")
        return False
    from apps.core.scheduler import every

    every(SWEEP_EVERY_SECONDS, "apps.core.webhooks.maintenance.sweep_stuck_events",
          queue="webhooks", name="webhooks-sweep")
    every(PURGE_EVERY_SECONDS, "apps.core.webhooks.maintenance.purge_old_events",
          queue="default", name="webhooks-purge")
    return True


register()
