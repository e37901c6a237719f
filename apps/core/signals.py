"""Kernel events other parts react to (live pages, automations) without the kernel knowing them."""

from django.dispatch import Signal

# sender=WebhookEvent class, event=<WebhookEvent>; sent after the row is committed, for a delivery that will not
# be processed (ignored, duplicate, refused): those to process are announced by webhook_events_queued.
webhook_event_stored = Signal()
# sender=WebhookEvent class, event_ids=[ids]: deliveries just handed to the worker's queue (webhooks.dispatch).
webhook_events_queued = Signal()
# sender=WebhookEvent class, event=<WebhookEvent>; sent after processing ends (processed or failed).
webhook_event_processed = Signal()
# sender=SyncRun class, run=<SyncRun>; sent after every page and at the end of a run.
sync_run_progressed = Signal()
# sender=ActionRun class, run=<ActionRun>; sent when a run changes status.
action_run_changed = Signal()
# sender=<provider key>, record=<hub Quote|Invoice|SupplierBill>, signature_state=<str|None>,
# reminder_level=<int|None>: an integration fact no hub field holds (e.g. DocuSeal: "signé"; Mautic: reminder
# level 2). Send it from any system app; mirrors (Directus) keep it in their integration statuses.
integration_status_reported = Signal()
# sender=Connection class, fields=<names set by update(), None for bulk_create()>: rows changed without a model
# signal.
connections_changed_in_bulk = Signal()
# sender=<model class>, instances=[saved rows]: rows inserted together by apps.core.bulk.create_announced, which
# sends no post_save. A receiver that must see every new row of its model listens to both signals.
created_in_bulk = Signal()
