"""One handler per Flow event. A delivery is a hint: the items it names are read again from Directus.

`items.create` / `items.update`: read the named items (`filter[id][_in]`) and reconcile each
(reconcile.py). `items.delete`: an item of the console deleted in Directus is written again. Items of
collections that are not the mirror's are ignored. A Directus failure raises, so the kernel retries the
event with backoff; reconciling is idempotent (an item already handled is then an echo or unchanged).
"""

from __future__ import annotations

import logging

from apps.directus import reconcile, schema, webhooks
from apps.directus.client import DirectusClient
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
    items = DirectusClient(event.connection).list_items(name, filter={schema.PRIMARY_KEY: {"_in": keys}},
                                                         limit=-1).items
    for item in items:
        record_remote(event.connection, key, item, webhook_event=event)
    missing = set(keys) - {str(item.get(schema.PRIMARY_KEY)) for item in items}
    if missing:
        # Gone since the Flow ran, or not readable by this token: Directus does not say which (403/empty).
        logger.info("Directus : éléments %s absents ou non autorisés dans %s", sorted(missing), name)


def item_deleted(event):
    key, keys = _target(event)
    if key is None:
        return
    for item_id in keys:
        reconcile.restore_deleted(event.connection, key, item_id, webhook_event=event)


HANDLERS = {
    "items.create": item_changed,
    "items.update": item_changed,
    "items.delete": item_deleted,
}
