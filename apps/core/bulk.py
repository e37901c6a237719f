"""Many new rows in one INSERT, announced to the receivers once for all of them.

Django's bulk_create sends no post_save. A sync importing a page in bulk sends `created_in_bulk` instead, once
per statement: the receivers that must see every new row of their model (live timeline pushes, the Directus
outbox, automations watching invoices) do their lookups once per page rather than once per row.
"""

from __future__ import annotations

from django.db.models import Model

from apps.core.signals import created_in_bulk


def create_announced(model: type[Model], objects: list[Model]) -> list[Model]:
    """Insert `objects` (their primary keys come back on PostgreSQL and SQLite) and send `created_in_bulk`."""
    created = model.objects.bulk_create(objects)
    if created:
        created_in_bulk.send(sender=model, instances=created)
    return created
