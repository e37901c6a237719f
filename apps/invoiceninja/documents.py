"""Invoice Ninja as the kernel's PDF source for hub quotes and invoices (apps.core.documents).

The same download as the console's "Télécharger le PDF" link: the document's first invitation, fetched
through the API. A record never pushed to Invoice Ninja has no document here (None).

Invoice Ninja also issues a draft quote the console sends for signature: created there (or updated), marked
sent, numbered, without Invoice Ninja's own e-mail (the signing request is the one the client gets).
"""

from __future__ import annotations

from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from apps.core.actions import ActionFailed
from apps.core.documents import DocumentFile, DocumentUnavailable, Issuer
from apps.core.http import ApiError
from apps.core.models import Connection, TimelineEntry
from apps.hub.models import Invoice, Quote
from apps.invoiceninja.client import InvoiceNinjaClient
from apps.invoiceninja.models import InvoiceLink, QuoteLink

LINKS = {Quote: ("quote", QuoteLink), Invoice: ("invoice", InvoiceLink)}


def pdf_of(document) -> DocumentFile | None:
    kind, link_model = LINKS[type(document)]
    link = (link_model.objects.filter(**{kind: document}, connection__is_active=True)
            .select_related("connection").first())
    if link is None:
        return None
    api = InvoiceNinjaClient(link.connection)
    try:
        remote = getattr(api, f"get_{kind}")(link.external_id)
        invitations = remote.get("invitations") or []
        if not invitations:
            raise DocumentUnavailable(_("Aucune invitation pour ce document dans Invoice Ninja : envoyez-le d'abord."))
        content = api.download_pdf(kind, invitations[0]["key"])
    except ApiError as exc:
        raise DocumentUnavailable(_("Invoice Ninja : %(error)s") % {"error": exc}) from exc
    filename = f"{kind}-{link.number or link.external_id}.pdf".replace('"', "")
    return DocumentFile(filename=filename, content=content, source="Invoice Ninja")


def active_connection() -> Connection | None:
    return Connection.objects.filter(provider="invoiceninja", is_active=True).order_by("pk").first()


def can_issue(quote) -> bool:
    connection = active_connection()
    return (quote.status == Quote.Status.DRAFT and connection is not None and connection.is_healthy
            and quote.lines.exists())


def issue(quote, run) -> None:
    from apps.invoiceninja.actions import failure, issue_document

    connection = active_connection()
    if connection is None:
        raise DocumentUnavailable(_("Aucune connexion Invoice Ninja active."))
    try:
        remote = issue_document(InvoiceNinjaClient(connection), connection, quote, run, kind="quote")
    except ActionFailed as exc:
        raise DocumentUnavailable(str(exc)) from exc
    except ApiError as exc:
        raise DocumentUnavailable(str(failure(exc))) from exc
    TimelineEntry.record(quote, gettext_noop("Devis %(number)s enregistré dans Invoice Ninja et marqué envoyé, sans "
                                             "e-mail d'Invoice Ninja : il part pour signature."),
                         params={"number": remote.get("number") or quote.number},
                         provider="invoiceninja", external_ids={"invoiceninja_quote_id": remote["id"]})


def register() -> None:
    from apps.core import documents

    for model in LINKS:
        documents.register(model, "invoiceninja", pdf_of)
    documents.register_issuer(Quote, "invoiceninja", Issuer(label="Invoice Ninja", can_issue=can_issue, issue=issue))
