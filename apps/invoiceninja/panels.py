"""The Invoice Ninja panel on hub quotes, invoices and companies: number, link, sync state, conflict."""

from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from apps.core.models import Connection
from apps.core.record_panels import RecordPanel
from apps.hub.models import Company, Invoice, Quote
from apps.invoiceninja.models import ClientLink, InvoiceLink, QuoteLink

# Hash routes of the Invoice Ninja web app (React admin UI): UNCONFIRMED for self-hosted installs that
# serve it elsewhere; the sandbox serves its own overview page at the same place.
WEB_ROUTES = {"company": "clients", "quote": "quotes", "invoice": "invoices"}


def web_url(connection: Connection, kind: str, external_id: str) -> str:
    base = connection.config.get("web_url") or connection.base_url.rstrip("/")
    return f"{base}/#/{WEB_ROUTES[kind]}/{external_id}/edit"


def panel_context(link_model, field: str, kind: str):
    def context(obj, user):
        connection = Connection.objects.filter(provider="invoiceninja", is_active=True).order_by("pk").first()
        if connection is None:
            return None
        link = link_model.objects.filter(connection=connection, **{field: obj}).first()
        pdf_url = None
        if link and kind in ("quote", "invoice") and user.has_perm(f"hub.view_{kind}"):
            pdf_url = reverse("invoiceninja:document_pdf", args=[kind, obj.pk])
        return {
            "connection": connection,
            "link": link,
            "web_url": web_url(connection, kind, link.external_id) if link else None,
            "pdf_url": pdf_url,
            "local_changes": bool(link and link.has_local_changes(obj)),
        }

    return context


def panel(link_model, field: str, kind: str) -> RecordPanel:
    return RecordPanel(_("Invoice Ninja"), "invoiceninja/panel.html", panel_context(link_model, field, kind),
                       sources=((link_model, field),))


PANELS = [
    (Quote, panel(QuoteLink, "quote", "quote")),
    (Invoice, panel(InvoiceLink, "invoice", "invoice")),
    (Company, panel(ClientLink, "company", "company")),
]
