"""The DocuSeal panel on a hub quote: the signature request, each signer's status and signing link, the
decline reason, and the archived signed documents — live: the panel listens on `docuseal.quote.<pk>`
(joining needs hub.view_quote, the quote's own permission) and is pushed again on every change.
"""

from __future__ import annotations

from django.db import transaction
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from apps.core import live
from apps.core.record_panels import RecordPanel
from apps.hub.models import Quote

GROUP_PREFIX = "docuseal.quote"
VIEW_PERMISSION = "hub.view_quote"


def group_for(quote) -> str:
    return f"{GROUP_PREFIX}.{quote.pk}"


def panel_state(quote) -> dict:
    from apps.docuseal.models import SignatureRequest

    requests = list(SignatureRequest.objects.filter(quote=quote).prefetch_related("signers", "documents")
                    .select_related("connection")[:5])
    return {
        "quote": quote,
        "current": requests[0] if requests else None,
        "earlier": requests[1:],
        "live_group": group_for(quote),
        "download_url_name": "docuseal:signed_document",
    }


def panel_context(quote, user):
    from apps.core.models import Connection

    if not user.has_perm(VIEW_PERMISSION):
        return None
    state = panel_state(quote)
    if state["current"] is None and not Connection.objects.filter(provider="docuseal", is_active=True).exists():
        return None
    return {**state, "connect": True}


def push(quote) -> None:
    live.push(group_for(quote), "docuseal/panel.html", {**panel_state(quote), "oob": True})


def push_after_commit(quote) -> None:
    quote_pk = quote.pk
    transaction.on_commit(lambda: push(Quote.objects.get(pk=quote_pk)))


def document_url(document) -> str:
    return reverse("docuseal:signed_document", args=[document.pk])


PANELS = [(Quote, RecordPanel(_("Signature électronique (DocuSeal)"), "docuseal/panel.html", panel_context,
                              updates_itself=True))]
