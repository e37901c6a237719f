"""One handler per Flow event. A delivery is a hint: the items it names are read again from Directus.

`items.create` / `items.update`: read the named item (`GET /items/<c>/<key>`; a 403 means missing or not
permitted, said on the hub record's timeline) or items (`filter[id][_in]`) and reconcile each (reconcile.py). `items.delete`: an item of the console deleted in Directus is written again. Items of
collections that are not the mirror's are ignored. A Directus failure raises, so the kernel retries the
event with backoff; reconciling is idempotent (an item already handled is then an echo or unchanged).
"""

from __future__ import annotations

import logging

from django.utils.translation import gettext_lazy, gettext_noop

from apps.core.models import TimelineEntry
from apps.directus import reconcile, records, schema, webhooks
from apps.directus.client import DirectusClient, ItemMissingOrForbidden
from apps.directus.sync import record_remote

logger = logging.getLogger(__name__)


def _target(event):
    trigger = webhooks.parse_trigger(bytes(event.body))
    key = schema.collection_key(event.connection, str(trigger.get("collection") or ""))
    return key, webhooks.trigger_keys(trigger)


def item_changed(event):
    key, keys = _target(event)
    if key is None or not keys:
        return
    name = schema.collection_name(event.connection, key)
    client = DirectusClient(event.connection)
    missing = []
    if len(keys) == 1:
        try:
            items = [client.get_item(name, keys[0])]
        except ItemMissingOrForbidden:
            items, missing = [], [keys[0]]
    else:
        items = client.list_items(name, filter={schema.PRIMARY_KEY: {"_in": keys}}, limit=-1).items
        found = {str(item.get(schema.PRIMARY_KEY)) for item in items}
        missing = [item_id for item_id in keys if item_id not in found]
    for item in items:
        record_remote(event.connection, key, item, webhook_event=event)
    for item_id in missing:
        # Gone since the Flow ran, or not readable by this token: Directus does not say which.
        logger.info("Directus : élément %s absent de la collection %s, ou non autorisé pour ce jeton", item_id, name)
        obj = records.find(key, item_id)
        if obj is not None:
            TimelineEntry.record(obj, gettext_noop("Directus : Élément « %(item)s » absent de la collection "
                                                   "« %(collection)s », ou non autorisé pour ce jeton."),
                                 params={"item": item_id, "collection": name}, provider="directus",
                                 level=TimelineEntry.Level.WARNING, webhook_event=event)


def item_deleted(event):
    key, keys = _target(event)
    if key is None:
        return
    for item_id in keys:
        reconcile.restore_deleted(event.connection, key, item_id, webhook_event=event)


# What a person reads in the webhook log for each Directus Flow event.
EVENT_LABELS = {
    "items.create": gettext_lazy("Élément créé"),
    "items.update": gettext_lazy("Élément modifié"),
    "items.delete": gettext_lazy("Élément supprimé"),
}

HANDLERS = {
    "items.create": item_changed,
    "items.update": item_changed,
    "items.delete": item_deleted,
}
