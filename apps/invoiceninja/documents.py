"""Invoice Ninja as the kernel's PDF source for hub quotes and invoices (apps.core.documents).

The same download as the console's "Télécharger le PDF" link: the document's first invitation, fetched
through the API. A record never pushed to Invoice Ninja has no document here (None).
"""

from __future__ import annotations

from django.utils.translation import gettext as _

from apps.core.documents import DocumentFile, DocumentUnavailable
from apps.core.http import ApiError
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


def register() -> None:
    from apps.core import documents

    for model in LINKS:
        documents.register(model, "invoiceninja", pdf_of)
