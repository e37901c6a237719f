"""Incremental pull of Mautic contacts (NOTES §3.1) into ContactMirror, then into links and hub contacts.

`GET /api/contacts?where[0][col]=date_modified&where[0][expr]=gte&where[0][val]=<since>&orderBy=id&start=N`:
a date filter with a stable id order, so offset pagination neither skips nor repeats rows while contacts
change. The checkpoint after each page holds the next offset and the highest dateModified seen; the next
run starts from that high-water mark (inclusive: rows modified in the same second come back and are
skipped by their unchanged hash). A full sync lists everything and marks unseen mirrors deleted.
"""

from __future__ import annotations

from datetime import UTC

from django.utils import timezone

from apps.core.models import SyncRun
from apps.core.sync import Page, SyncResource, upsert
from apps.mautic import activity, contacts
from apps.mautic.client import DEFAULT_PAGE_SIZE
from apps.mautic.models import ContactMirror


def mautic_datetime(value) -> str:
    """`Y-m-d H:i:s` in UTC, the format of Mautic's where filters."""
    return activity.parse_when(value).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if value else ""


class ContactsResource(SyncResource):
    name = "contacts"
    label = "Contacts"
    model = ContactMirror
    page_size = DEFAULT_PAGE_SIZE

    def initial_checkpoint(self, kind, last_success):
        since = (last_success or {}).get("high_water") if kind == SyncRun.Kind.INCREMENTAL else None
        return {"since": since, "start": 0, "high_water": since}

    def fetch_page(self, checkpoint):
        page = self.client.list_contacts(start=checkpoint.get("start", 0), limit=self.page_size,
                                         modified_since=checkpoint.get("since"))
        stamps = [mautic_datetime(c.get("dateModified") or c.get("dateAdded")) for c in page.contacts]
        high_water = max([checkpoint.get("high_water") or "", *stamps]) or None
        return Page(items=page.contacts,
                    checkpoint={"since": checkpoint.get("since"), "start": page.next_start, "high_water": high_water},
                    done=page.is_last)

    def final_checkpoint(self, checkpoint):
        return {"high_water": checkpoint.get("high_water")}

    def remote_updated_at(self, item):
        value = item.get("dateModified") or item.get("dateAdded")
        return activity.parse_when(value) if value else None

    def apply(self, record):
        contacts.apply_remote(self.connection, record.payload)


RESOURCES = (ContactsResource,)


def record_remote(connection, contact: dict):
    """Mirror one contact outside a sync run (webhook, action) and reflect it into the hub."""
    resource = ContactsResource(connection, run=None)
    upsert(resource, [contact], seen_at=timezone.now())
    return contacts.apply_remote(connection, contact)
