"""The DocuSeal hub page (connection, webhook setup, pending signatures) and the signed-document download.

Webhook registration has no API (NOTES §6.1): the page shows what to enter in DocuSeal's Settings →
Webhooks — the URL, the events to tick — takes the HMAC secret DocuSeal generated (pasted here, stored
encrypted, never shown back), can generate a value for DocuSeal's Secret tab (shown once), and tells whether
a delivery arrived since. Signed documents are streamed from the console's storage only to users who may
see the quote; there is no public URL.
"""

from __future__ import annotations

import secrets

from django.contrib import admin, messages
from django.http import FileResponse
from django.shortcuts import get_object_or_404, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from apps.core.console.access import refuse, staff_required
from apps.core.console.connection_views import connection_action, test_connection_view
from apps.core.http import ApiError
from apps.core.models import Connection, WebhookEvent
from apps.docuseal.client import DocusealClient, api_base, is_hosted
from apps.docuseal.models import SignatureRequest, SignedDocument
from apps.docuseal.webhooks import DOCUSEAL_USER_AGENT, EVENTS_TO_TICK
from apps.hub.models import Quote

PROVIDER = "docuseal"
DEFAULT_SECRET_HEADER = "X-Console-Docuseal-Secret"


def _connections():
    return Connection.objects.filter(provider=PROVIDER).order_by("-is_active", "name")


def delivery_check(connection) -> dict:
    """The last delivery that reached this connection's hook, and what it says about the setup."""
    events = WebhookEvent.objects.filter(connection=connection)
    verified = events.exclude(status=WebhookEvent.Status.REJECTED).first()
    rejected = events.filter(status=WebhookEvent.Status.REJECTED).first()
    test = next((e for e in events.filter(status=WebhookEvent.Status.REJECTED)[:20]
                 if (e.headers.get("User-Agent") or "").startswith(DOCUSEAL_USER_AGENT)
                 and "X-Docuseal-Signature" not in e.headers), None)
    return {"verified": verified, "rejected": rejected, "test": test}


@require_GET
@staff_required("core.view_console")
def hub(request):
    connections = list(_connections())
    active = next((c for c in connections if c.is_active), None)
    context = {
        **admin.site.each_context(request),
        "title": _("DocuSeal"),
        "connections": connections,
        "connection": active,
        "api_base": api_base(active.base_url) if active and active.base_url else "",
        "hosted": is_hosted(active.base_url) if active and active.base_url else False,
        "events_to_tick": EVENTS_TO_TICK,
        "check": delivery_check(active) if active else None,
        "has_hmac_secret": bool(active and active.webhook_secrets),
        "secret_header_name": active.config.get("secret_header_name", "") if active else "",
        "to_send": Quote.objects.filter(status=Quote.Status.SENT).exclude(
            signature_requests__status=SignatureRequest.Status.PENDING).select_related("company")[:20],
        "pending": SignatureRequest.objects.filter(status=SignatureRequest.Status.PENDING)
        .select_related("quote", "quote__company").prefetch_related("signers")[:30],
        "recent": SignatureRequest.objects.exclude(status=SignatureRequest.Status.PENDING)
        .select_related("quote")[:15],
        "webhooks": WebhookEvent.objects.filter(provider=PROVIDER).select_related("connection")[:15],
        "can_manage": request.user.has_perm("core.manage_connections"),
        "new_header_value": request.session.pop("docuseal_new_header_value", None),
    }
    return render(request, "docuseal/hub.html", context)


test = test_connection_view(PROVIDER, "docuseal:hub")


@connection_action(PROVIDER, "docuseal:hub")
def save_hmac_secret(request, connection):
    secret = request.POST.get("hmac_secret", "").strip()
    if not secret.startswith("whsec_") or len(secret) < 20:
        messages.error(request, _("Collez le secret de l'onglet « HMAC » de DocuSeal : il commence par « whsec_ »."))
        return
    connection.webhook_secrets = [secret]
    connection.save(update_fields=["webhook_secrets", "updated_at"])
    messages.success(request, _("Secret HMAC enregistré : les webhooks non signés par lui seront refusés."))


@connection_action(PROVIDER, "docuseal:hub")
def generate_secret_header(request, connection):
    value = secrets.token_urlsafe(32)
    connection.config = {**connection.config, "secret_header_name": DEFAULT_SECRET_HEADER}
    connection.secrets = {**connection.secrets, "webhook_header_value": value}
    connection.save(update_fields=["config", "secrets", "updated_at"])
    # Shown once, on the next page only: DocuSeal needs it pasted, the console never shows it again.
    request.session["docuseal_new_header_value"] = value
    messages.success(request, _("Nouvel en-tête secret créé : collez-le dans l'onglet « Secret » de DocuSeal."))


@connection_action(PROVIDER, "docuseal:hub")
def save_template(request, connection):
    raw = request.POST.get("template_id", "").strip()
    if not raw.isdigit():
        messages.error(request, _("Indiquez l'identifiant numérique du modèle DocuSeal."))
        return
    try:
        template = DocusealClient(connection).get_template(int(raw))
    except ApiError as exc:
        messages.error(request, _("Modèle DocuSeal introuvable : %(error)s") % {"error": exc})
        return
    connection.config = {**connection.config, "template_id": int(raw)}
    connection.save(update_fields=["config", "updated_at"])
    messages.success(request, _("Modèle d'acceptation « %(name)s » enregistré.") % {"name": template.get("name")})


@require_GET
@staff_required()
def signed_document(request, pk: int):
    """A signed PDF (or audit log) from the console's storage, for users who may see its quote."""
    if not request.user.has_perm("hub.view_quote"):
        return refuse(request, _("Vous n'avez pas la permission requise."))
    document = get_object_or_404(SignedDocument.objects.select_related("request"), pk=pk)
    try:
        handle = document.file.open("rb")
    except (FileNotFoundError, OSError):
        return refuse(request, _("Le fichier archivé est introuvable dans le stockage."), status=404)
    filename = document.file.name.rsplit("/", 1)[-1]
    response = FileResponse(handle, content_type="application/pdf", as_attachment=True, filename=filename)
    response["Cache-Control"] = "private, no-store"
    return response
