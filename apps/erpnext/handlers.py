"""What a verified ERPNext webhook does: read that one document again and mirror it (never trust the body).

One handler per synced doctype (the event type is the doctype). A document that no longer exists
(on_trash) is marked deleted in its mirror. Idempotent: reading twice mirrors the same row.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy

from apps.core.models import WebhookEvent
from apps.erpnext import sync, webhooks


def refresh_from_webhook(event: WebhookEvent) -> None:
    payload = webhooks.parse(bytes(event.body))
    sync.refresh_document(event.connection, payload["doctype"], payload["name"])


HANDLERS = {doctype: refresh_from_webhook for doctype in sync.BY_DOCTYPE}
# ERPNext names a webhook by its document type: the log reads which document changed.
EVENT_LABELS = {
    "Customer": gettext_lazy("Client modifié"),
    "Supplier": gettext_lazy("Fournisseur modifié"),
    "Item": gettext_lazy("Article modifié"),
    "Bin": gettext_lazy("Stock d'un article modifié"),
    "Sales Invoice": gettext_lazy("Facture de vente modifiée"),
    "Purchase Invoice": gettext_lazy("Facture d'achat modifiée"),
    "Payment Entry": gettext_lazy("Paiement modifié"),
}
