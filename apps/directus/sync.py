"""Polling on `date_updated`: the safety net under the Flow (a Flow has no retry, NOTES §4.2).

One kernel sync resource per mirror collection: `GET /items/<collection>?filter={"date_updated":{"_gte":
<high water>}}&sort=date_updated,id&limit=N&offset=O`. The checkpoint after each page holds the offset and
the highest `date_updated` seen; the next run starts from that mark (inclusive: an item updated in the same
instant is listed again and skipped by its unchanged content hash). Each changed item goes through
reconcile.reconcile_item, like a Flow delivery.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from django.utils import timezone

from apps.core.models import SyncRun
from apps.core.sync import Page, SyncResource, upsert
from apps.directus import reconcile, schema
from apps.directus.models import DirectusItem

PAGE_SIZE = 100


class MirrorResource(SyncResource):
    collection_key: ClassVar[str]
    model = DirectusItem
    page_size: ClassVar[int] = PAGE_SIZE
    webhook_event = None

    def initial_checkpoint(self, kind, last_success):
        since = last_success.get("high_water") if kind == SyncRun.Kind.INCREMENTAL and last_success else None
        return {"since": since, "offset": 0, "high_water": since}

    def fetch_page(self, checkpoint):
        since = checkpoint.get("since")
        page = self.client.list_items(
            schema.collection_name(self.connection, self.collection_key),
            filter={schema.UPDATED_FIELD: {"_gte": since}} if since else None,
            sort=f"{schema.UPDATED_FIELD},{schema.PRIMARY_KEY}", limit=self.page_size,
            offset=checkpoint.get("offset", 0),
        )
        stamps = [str(item[schema.UPDATED_FIELD]) for item in page.items if item.get(schema.UPDATED_FIELD)]
        high_water = max([checkpoint.get("high_water") or "", *stamps]) or None
        return Page(
            items=page.items,
            checkpoint={"since": since, "offset": checkpoint.get("offset", 0) + len(page.items),
                        "high_water": high_water},
            done=len(page.items) < self.page_size,
        )

    def final_checkpoint(self, checkpoint):
        return {"high_water": checkpoint.get("high_water")}

    def external_id(self, item):
        return f"{self.collection_key}/{item[schema.PRIMARY_KEY]}"

    def remote_updated_at(self, item):
        value = item.get(schema.UPDATED_FIELD)
        if not value:
            return None
        try:
            return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            return None

    def apply(self, record):
        reconcile.reconcile_item(self.connection, self.collection_key, record.payload,
                                 webhook_event=self.webhook_event)


def _resource(key: str) -> type[MirrorResource]:
    collection = schema.COLLECTIONS[key]
    return type(f"{key.title().replace('_', '')}Resource", (MirrorResource,),
                {"name": key, "label": collection.label, "collection_key": key, "__module__": __name__})


RESOURCES = tuple(_resource(key) for key in schema.COLLECTIONS)
RESOURCE_BY_KEY = {resource.collection_key: resource for resource in RESOURCES}


def record_remote(connection, collection_key: str, item: dict, *, webhook_event=None):
    """Mirror one item read outside a sync run (a Flow delivery) and reconcile it."""
    resource = RESOURCE_BY_KEY[collection_key](connection, run=None)
    resource.webhook_event = webhook_event
    upsert(resource, [item], seen_at=timezone.now())
    return reconcile.reconcile_item(connection, collection_key, item, webhook_event=webhook_event)
