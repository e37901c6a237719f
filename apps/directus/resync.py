"""`manage.py directus resync <connection>`: repair drift between the hub and its Directus mirror.

For every mirror collection, every item in Directus is compared with the hub (paged, `limit`/`offset`):
- an item that a person edited (its values no longer hash to its version) goes through the conflict rule
  (reconcile.py) — Directus's fields are taken, the console's restored;
- an item that is the console's last write but differs from the hub now (a lost push, a restored backup)
  is written again;
- a console item whose hub record is gone is deleted; a hub record missing from Directus is created;
- items that are not the console's (a person's own rows) are left alone.
Then the outbox is pushed, and the report says what changed, item by item.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from apps.directus import outbox, push, reconcile, records, schema
from apps.directus.client import DirectusClient
from apps.directus.models import OutboxEntry

PAGE_SIZE = 200


@dataclass
class ResyncReport:
    created: list[str] = field(default_factory=list)
    corrected: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    directus_edits: list[str] = field(default_factory=list)
    push: push.PushReport | None = None

    @property
    def changed(self) -> int:
        return len(self.created) + len(self.corrected) + len(self.deleted) + len(self.directus_edits)

    def lines(self) -> list[str]:
        out = []
        for label, names in (("à créer (absents de Directus)", self.created),
                             ("corrigés (différents du hub)", self.corrected),
                             ("supprimés (plus dans le hub)", self.deleted),
                             ("modifications faites dans Directus traitées", self.directus_edits)):
            out.append(f"{label} : {len(names)}" + (f" — {', '.join(names[:50])}" if names else ""))
        if self.push is not None:
            out.append(f"envoi : {self.push.summary()}")
        return out


def remote_items(client: DirectusClient, name: str):
    offset = 0
    while True:
        page = client.list_items(name, limit=PAGE_SIZE, offset=offset, sort=schema.PRIMARY_KEY)
        yield from page.items
        if len(page.items) < PAGE_SIZE:
            return
        offset += len(page.items)


def resync(connection, client: DirectusClient | None = None) -> ResyncReport:
    client = client or DirectusClient(connection)
    report = ResyncReport()
    for key, collection in schema.COLLECTIONS.items():
        name = schema.collection_name(connection, key)
        expected = {}
        for obj in records.all_records(key):
            expected[records.stable_id(obj)] = obj
        seen = set()
        for item in remote_items(client, name):
            item_id = str(item.get(schema.PRIMARY_KEY))
            if not records.is_console_id(key, item_id):
                continue
            seen.add(item_id)
            obj = expected.get(item_id)
            label = f"{name}/{item_id}"
            if obj is None:
                outbox.add(connection, key, item_id=item_id, operation=OutboxEntry.Operation.DELETE,
                           reason=OutboxEntry.Reason.RESYNC)
                report.deleted.append(label)
            elif not schema.is_echo(collection, item):
                outcome = reconcile.reconcile_item(connection, key, item)
                report.directus_edits.append(f"{label} ({outcome.kind})")
            elif schema.normalised(collection, item) != schema.normalised(collection, records.serialize(key, obj)):
                outbox.add(connection, key, obj, reason=OutboxEntry.Reason.RESYNC)
                report.corrected.append(label)
        for item_id, obj in expected.items():
            if item_id not in seen:
                outbox.add(connection, key, obj, reason=OutboxEntry.Reason.RESYNC)
                report.created.append(f"{name}/{item_id}")
    with push.push_lock(connection, wait_seconds=120):
        report.push = push.push_all_due(connection, rounds=1000)
    return report
