"""Periodic jobs of the webhook inbox, registered with the kernel scheduler."""

from apps.core.scheduler import every

SWEEP_EVERY_SECONDS = 15  # with WEBHOOK_SWEEP_AFTER_SECONDS (5 s): a lost event is enqueued again within ~20 s
PURGE_EVERY_SECONDS = 3600

every(SWEEP_EVERY_SECONDS, "apps.core.webhooks.maintenance.sweep_stuck_events", queue="webhooks",
      name="webhooks-sweep")
every(PURGE_EVERY_SECONDS, "apps.core.webhooks.maintenance.purge_old_events", queue="default",
      name="webhooks-purge")
