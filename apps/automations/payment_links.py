"""Mautic reminders carry Invoice Ninja's payment link: the invoice's first invitation `link` (its client
portal page), read from the Invoice Ninja mirror of the hub invoice. Registered with Mautic's dunning in
AutomationsConfig.ready(), so neither system app imports the other."""

from __future__ import annotations

from urllib.parse import urljoin


def invoice_ninja_payment_link(invoice) -> str | None:
    from apps.invoiceninja.models import InvoiceLink, InvoiceMirror

    link = InvoiceLink.objects.filter(invoice=invoice, connection__is_active=True).select_related("connection").first()
    if link is None:
        return None
    mirror = InvoiceMirror.objects.filter(connection=link.connection, external_id=link.external_id).first()
    invitations = (mirror.payload.get("invitations") if mirror else None) or []
    target = next((i.get("link") for i in invitations if isinstance(i, dict) and i.get("link")), None)
    if not target:
        return None
    # The vendor sends an absolute URL; the sandbox a path on its own host.
    return urljoin(link.connection.base_url.rstrip("/") + "/", target.lstrip("/")) if target.startswith("/") else target
