"""The Invoice Ninja hub page and the PDF download streamed through the console (staff only)."""

from django.contrib import admin, messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from apps.core import sync
from apps.core.console.access import refuse, staff_required
from apps.core.console.connection_views import connection_action, test_connection_view
from apps.core.http import ApiError
from apps.core.models import Connection, SyncRun, WebhookEvent
from apps.hub.models import Invoice, Quote
from apps.invoiceninja.client import InvoiceNinjaClient
from apps.invoiceninja.models import InvoiceLink, QuoteLink
from apps.invoiceninja.webhook_registration import register_webhooks

PROVIDER = "invoiceninja"


def _connections():
    return Connection.objects.filter(provider=PROVIDER).order_by("-is_active", "name")


@require_GET
@staff_required("core.view_console")
def hub(request):
    connections = list(_connections())
    active = next((c for c in connections if c.is_active), None)
    linked_sent = QuoteLink.objects.filter(emailed_at__isnull=False).values_list("quote_id", flat=True)
    quotes_to_send = (
        Quote.objects.filter(status=Quote.Status.DRAFT).exclude(pk__in=linked_sent)
        .select_related("company").order_by("issue_date", "pk")[:20]
    )
    context = {
        **admin.site.each_context(request),  # the admin shell: user tools, sidebar
        "title": _("Invoice Ninja"),
        "connections": connections,
        "connection": active,
        "quotes_to_send": quotes_to_send,
        "accepted_quotes": Quote.objects.filter(status=Quote.Status.ACCEPTED).select_related("company")[:20],
        "conflicts": [*QuoteLink.objects.filter(conflict_at__isnull=False).select_related("quote")[:20],
                      *InvoiceLink.objects.filter(conflict_at__isnull=False).select_related("invoice")[:20]],
        "webhooks": WebhookEvent.objects.filter(provider=PROVIDER).select_related("connection")[:15],
        "syncs": SyncRun.objects.filter(connection__provider=PROVIDER).select_related("connection")[:12],
        "can_manage": request.user.has_perm("core.manage_connections"),
    }
    return render(request, "invoiceninja/hub.html", context)


@connection_action(PROVIDER, "invoiceninja:hub")
def sync_now(request, connection):
    started = 0
    for resource in ("clients", "quotes", "invoices", "payments"):
        _run, created = sync.start_sync(connection, resource, user=request.user)
        started += created
    messages.success(request, _("%(count)s synchronisation(s) lancée(s).") % {"count": started})


@connection_action(PROVIDER, "invoiceninja:hub")
def register(request, connection):
    try:
        messages.success(request, register_webhooks(connection).summary())
    except (ApiError, ValueError) as exc:
        messages.error(request, _("Enregistrement des webhooks impossible : %(error)s") % {"error": exc})


test = test_connection_view(PROVIDER, "invoiceninja:hub")


DOCUMENTS = {"quote": (Quote, QuoteLink), "invoice": (Invoice, InvoiceLink)}


@require_GET
@staff_required()
def document_pdf(request, kind: str, pk: int):
    if kind not in DOCUMENTS:
        return refuse(request, _("Type de document inconnu."), status=404)
    model, link_model = DOCUMENTS[kind]
    if not request.user.has_perm(f"hub.view_{kind}"):
        return refuse(request, _("Vous n'avez pas la permission requise."))
    document = get_object_or_404(model, pk=pk)
    link = link_model.objects.filter(**{kind: document}, connection__is_active=True).select_related("connection").first()
    if link is None:
        return refuse(request, _("Ce document n'existe pas dans Invoice Ninja."), status=404)
    api = InvoiceNinjaClient(link.connection)
    try:
        remote = getattr(api, f"get_{kind}")(link.external_id)
        invitations = remote.get("invitations") or []
        if not invitations:
            return refuse(request, _("Aucune invitation pour ce document : envoyez-le d'abord."), status=409)
        pdf = api.download_pdf(kind, invitations[0]["key"])
    except ApiError as exc:
        return refuse(request, _("Invoice Ninja : %(error)s") % {"error": exc}, status=502)
    response = HttpResponse(pdf, content_type="application/pdf")
    filename = f"{kind}-{link.number or link.external_id}.pdf".replace('"', "")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
