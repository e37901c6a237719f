"""Incremental pull of clients, quotes, invoices and payments (NOTES §5 recipe).

`GET /api/v1/<entity>?updated_at=<since>&sort=updated_at|asc&per_page=N&page=P` without a `status`
filter, so archived and deleted rows come through. The checkpoint after each page holds the page to
fetch next and the highest `updated_at` seen; the next run starts from that high-water mark
(inclusive: a row updated in the same second is listed again and skipped by its unchanged hash).
"""

from __future__ import annotations

from typing import ClassVar

from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.core.models import SyncRun
from apps.core.sync import Page, SyncResource, upsert
from apps.invoiceninja import first_import, reconcile
from apps.invoiceninja.client import DEFAULT_PAGE_SIZE
from apps.invoiceninja.models import ClientMirror, InvoiceMirror, PaymentMirror, QuoteMirror


class InvoiceNinjaResource(SyncResource):
    entity: ClassVar[str]
    page_size: ClassVar[int] = DEFAULT_PAGE_SIZE
    # Relations some deliveries embed (webhooks add `client`, payments `invoices`): dropped so a record has
    # the same shape, and the same content hash, whether it came from a list or a webhook.
    embedded: ClassVar[tuple[str, ...]] = ("client",)
    webhook_event = None

    def initial_checkpoint(self, kind, last_success):
        since = None
        if kind == SyncRun.Kind.INCREMENTAL and last_success:
            since = last_success.get("high_water")
        return {"since": since, "page": 1, "high_water": since}

    def fetch_page(self, checkpoint):
        listing = self.client.changed_since(self.entity, checkpoint.get("since"), page=checkpoint.get("page", 1),
                                            per_page=self.page_size)
        items = [self.clean(item) for item in listing.items]
        stamps = [int(item.get("updated_at") or 0) for item in items]
        high_water = max([checkpoint.get("high_water") or 0, *stamps]) or None
        return Page(
            items=items,
            checkpoint={"since": checkpoint.get("since"), "page": checkpoint.get("page", 1) + 1,
                        "high_water": high_water},
            done=listing.is_last,
        )

    def final_checkpoint(self, checkpoint):
        return {"high_water": checkpoint.get("high_water")}

    @classmethod
    def clean(cls, item: dict) -> dict:
        return {key: value for key, value in item.items() if key not in cls.embedded}

    def remote_updated_at(self, item):
        return reconcile.from_unix(item.get("updated_at"))

    def is_deleted(self, item):
        return bool(item.get("is_deleted"))

    def apply(self, record):
        self.apply_payload(record.payload)

    def apply_payload(self, payload: dict):
        raise NotImplementedError

    def fetch_client(self, client_id: str) -> dict:
        payload = ClientsResource.clean(self.client.get_client(client_id))
        record_remote(self.connection, ClientsResource, payload, webhook_event=self.webhook_event, apply=False)
        return payload


class ClientsResource(InvoiceNinjaResource):
    name = "clients"
    label = "Clients"
    entity = "clients"
    model = ClientMirror
    embedded = ()

    def apply_payload(self, payload):
        reconcile.apply_client(self.connection, payload, webhook_event=self.webhook_event)


class QuotesResource(InvoiceNinjaResource):
    name = "quotes"
    label = "Devis"
    entity = "quotes"
    model = QuoteMirror
    copied_columns = ("invoice_id",)

    def copy_columns(self, record, item):
        record.invoice_id = str(item.get("invoice_id") or "")[:64]

    def apply_page(self, records):
        return self.apply_each(first_import.import_new(self.connection, first_import.QUOTES, records))

    def apply_payload(self, payload):
        reconcile.apply_quote(self.connection, payload, webhook_event=self.webhook_event,
                              fetch_client=self.fetch_client)


class InvoicesResource(InvoiceNinjaResource):
    name = "invoices"
    label = "Factures"
    entity = "invoices"
    model = InvoiceMirror

    def apply_page(self, records):
        return self.apply_each(first_import.import_new(self.connection, first_import.INVOICES, records))

    def apply_payload(self, payload):
        reconcile.apply_invoice(self.connection, payload, webhook_event=self.webhook_event,
                                fetch_client=self.fetch_client)


class PaymentsResource(InvoiceNinjaResource):
    name = "payments"
    label = "Paiements"
    entity = "payments"
    model = PaymentMirror
    embedded = ("client", "invoices")

    def apply_payload(self, payload):
        reconcile.apply_payment(self.connection, payload, webhook_event=self.webhook_event,
                                fetch_invoice=self.fetch_invoice)

    def fetch_invoice(self, invoice_id: str) -> dict:
        payload = InvoicesResource.clean(self.client.get_invoice(invoice_id))
        record_remote(self.connection, InvoicesResource, payload, webhook_event=self.webhook_event, apply=False)
        return payload


RESOURCES = (ClientsResource, QuotesResource, InvoicesResource, PaymentsResource)


def record_remote(connection, resource_class: type[InvoiceNinjaResource], item: dict, *, webhook_event=None,
                  apply: bool = True):
    """Mirror one object outside a sync run (webhook, action) and reflect it into the hub.

    Atomic, and tried a second time when another process (the webhook handler in a worker, while an action or
    `manage.py demo` records the object it just created) recorded the same object in between: the second try
    finds its mirror and link instead of inserting them again.
    """
    try:
        with transaction.atomic():
            return _record_remote(connection, resource_class, item, webhook_event=webhook_event, apply=apply)
    except IntegrityError:
        with transaction.atomic():
            return _record_remote(connection, resource_class, item, webhook_event=webhook_event, apply=apply)


def _record_remote(connection, resource_class, item, *, webhook_event, apply):
    resource = resource_class(connection, run=None)
    resource.webhook_event = webhook_event
    payload = resource.clean(item)
    result = upsert(resource, [payload], seen_at=timezone.now())
    if result.errors:
        raise ValueError(result.errors[0])  # the object itself is unusable: a permanent error, not retried
    mirror = resource.model.objects.get(connection=connection, external_id=resource.external_id(payload))
    if apply:
        # Applied even when the mirror did not change: a previous application may have failed.
        resource.apply_payload(payload)
    return mirror
