"""The Directus panel on hub records: the item's id in the mirror, when it was last written, what waits to be
sent, and the last note (a refused edit), with its integration status for quotes, invoices and bills."""

from django.utils.translation import gettext_lazy as _

from apps.core.models import Connection
from apps.core.record_panels import RecordPanel
from apps.directus import records, schema
from apps.directus.models import MirroredItem, OutboxEntry


def panel_context(obj, user):
    connection = Connection.objects.filter(provider="directus", is_active=True).order_by("pk").first()
    if connection is None:
        return None
    item_id = records.stable_id(obj)
    collection = records.collection_of(obj)
    mirrored = MirroredItem.objects.filter(connection=connection, collection=collection, item_id=item_id).first()
    status = None
    if isinstance(obj, tuple(records.STATUS_TYPES.values())):
        status = records.integration_status(obj)
    return {
        "connection": connection,
        "collection": schema.collection_name(connection, collection),
        "item_id": item_id,
        "mirrored": mirrored,
        "pending": OutboxEntry.objects.filter(connection=connection, item_id=item_id,
                                              status=OutboxEntry.Status.PENDING).count(),
        "status": status,
    }


PANELS = [(model, RecordPanel(_("Directus"), "directus/panel.html", panel_context))
          for model, _prefix in records.MODELS.values()]
