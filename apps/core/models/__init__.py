from apps.core.models.action_run import ActionRun
from apps.core.models.api_call import ApiCall
from apps.core.models.capability import Capability
from apps.core.models.connection import Connection
from apps.core.models.external_record import ExternalRecord
from apps.core.models.sync_run import SyncRun
from apps.core.models.timeline_entry import TimelineEntry
from apps.core.models.webhook_event import WebhookEvent

__all__ = [
    "ActionRun",
    "ApiCall",
    "Capability",
    "Connection",
    "ExternalRecord",
    "SyncRun",
    "TimelineEntry",
    "WebhookEvent",
]
