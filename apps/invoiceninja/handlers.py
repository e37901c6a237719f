"""One handler per registered Invoice Ninja event. Each mirrors the delivered entity and reflects it.

The payload is a hint re-read at send time (NOTES §14.3): handlers apply it through the same
idempotent path as the sync (reconcile.py), so a duplicate or late delivery changes nothing twice.
"""

from __future__ import annotations

import json
from decimal import Decimal

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, gettext_noop

from apps.core.models import TimelineEntry
from apps.hub.models import Quote
from apps.invoiceninja.models import QuoteLink
from apps.invoiceninja.sync import ClientsResource, InvoicesResource, PaymentsResource, QuotesResource, record_remote


def entity(event) -> dict:
    return json.loads(bytes(event.body), parse_float=Decimal)


def _client_event(event):
    record_remote(event.connection, ClientsResource, entity(event), webhook_event=event)


def _quote_event(event):
    record_remote(event.connection, QuotesResource, entity(event), webhook_event=event)


def _invoice_event(event):
    record_remote(event.connection, InvoicesResource, entity(event), webhook_event=event)


def _payment_event(event):
    record_remote(event.connection, PaymentsResource, entity(event), webhook_event=event)


def create_client(event):
    _client_event(event)


def update_client(event):
    _client_event(event)


def delete_client(event):
    _client_event(event)


def create_quote(event):
    _quote_event(event)


def update_quote(event):
    _quote_event(event)


def delete_quote(event):
    _quote_event(event)


def sent_quote(event):
    _quote_event(event)


def approve_quote(event):
    """The client approved the quote: the hub quote becomes accepted (unless a conflict holds it back)."""
    payload = entity(event)
    record_remote(event.connection, QuotesResource, payload, webhook_event=event)
    link = QuoteLink.objects.filter(connection=event.connection, external_id=payload["id"]).select_related("quote").first()
    if link and link.quote.status not in (Quote.Status.ACCEPTED, Quote.Status.CONVERTED):
        TimelineEntry.record(
            link.quote, gettext_noop("Approuvé par le client dans Invoice Ninja, mais non appliqué : %(reason)s"),
            params={"reason": link.conflict_detail or gettext_lazy("état local différent")},
            provider="invoiceninja", level=TimelineEntry.Level.WARNING, webhook_event=event,
            external_ids={"invoiceninja_id": payload["id"]},
        )


def create_invoice(event):
    _invoice_event(event)


def update_invoice(event):
    _invoice_event(event)


def delete_invoice(event):
    _invoice_event(event)


def sent_invoice(event):
    _invoice_event(event)


def create_payment(event):
    """A payment arrived: the hub Payment is recorded and the invoice becomes paid or partially paid."""
    _payment_event(event)


def update_payment(event):
    _payment_event(event)


def delete_payment(event):
    _payment_event(event)


EVENT_LABELS = {
    "create_client": gettext_lazy("Client créé"), "update_client": gettext_lazy("Client modifié"), "delete_client": gettext_lazy("Client supprimé"),
    "create_quote": gettext_lazy("Devis créé"), "update_quote": gettext_lazy("Devis modifié"), "delete_quote": gettext_lazy("Devis supprimé"),
    "sent_quote": gettext_lazy("Devis envoyé"), "approve_quote": gettext_lazy("Devis approuvé"),
    "create_invoice": gettext_lazy("Facture créée"), "update_invoice": gettext_lazy("Facture modifiée"),
    "delete_invoice": gettext_lazy("Facture supprimée"), "sent_invoice": gettext_lazy("Facture envoyée"),
    "create_payment": gettext_lazy("Paiement créé"), "update_payment": gettext_lazy("Paiement modifié"),
    "delete_payment": gettext_lazy("Paiement supprimé"),
}

HANDLERS = {
    "create_client": create_client,
    "update_client": update_client,
    "delete_client": delete_client,
    "create_quote": create_quote,
    "update_quote": update_quote,
    "delete_quote": delete_quote,
    "sent_quote": sent_quote,
    "approve_quote": approve_quote,
    "create_invoice": create_invoice,
    "update_invoice": update_invoice,
    "delete_invoice": delete_invoice,
    "sent_invoice": sent_invoice,
    "create_payment": create_payment,
    "update_payment": update_payment,
    "delete_payment": delete_payment,
}
