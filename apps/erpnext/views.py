"""The ERPNext page in the console shell: connection health, customer search, outstanding invoices by age
(per currency, with a chart drawn server-side), stock levels with low stock first, matches to confirm, recent
webhooks and syncs. Everything shown comes from the mirrors; nothing here can change ERPNext."""

from django.contrib import admin, messages
from django.db.models import Q
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from apps.core import sync
from apps.core.console.access import staff_required
from apps.core.console.connection_views import connection_action, test_connection_view
from apps.core.models import Connection, SyncRun, WebhookEvent
from apps.erpnext import figures, matching, webhooks
from apps.erpnext.models import CustomerMirror, PartyLink
from apps.erpnext.sync import RESOURCES

PROVIDER = "erpnext"
SEARCH_LIMIT = 25


def _connections():
    return Connection.objects.filter(provider=PROVIDER).order_by("-is_active", "name")


def search_customers(connection, text: str):
    text = text.strip()[:100]
    if not text:
        return []
    matches = CustomerMirror.objects.filter(connection=connection, is_deleted=False).filter(
        Q(external_id__icontains=text) | Q(payload__customer_name__icontains=text) | Q(payload__tax_id__icontains=text)
    ).order_by("external_id")[:SEARCH_LIMIT]
    found = list(matches)
    linked = {link.party_name: link for link in PartyLink.objects.filter(
        connection=connection, party_type="Customer", party_name__in=[m.external_id for m in found],
        status=PartyLink.Status.LINKED).select_related("company")}
    outstanding = {m.external_id: figures.erp_outstanding(connection, "Customer", [m.external_id]) for m in found}
    return [{"mirror": m, "link": linked.get(m.external_id), "outstanding": outstanding[m.external_id]}
            for m in found]


@require_GET
@staff_required("core.view_console")
def hub(request):
    connections = list(_connections())
    connection = next((c for c in connections if c.is_active), None)
    query = request.GET.get("q", "")
    context = {
        **admin.site.each_context(request),
        "title": _("ERPNext"),
        "connections": connections,
        "connection": connection,
        "query": query,
        "customers": search_customers(connection, query) if connection else [],
        "ageing": figures.ageing(connection, timezone.localdate()) if connection else [],
        "buckets": [label for label, *_ in figures.BUCKETS],
        "stock": figures.stock_levels(connection) if connection else [],
        "suggestions": PartyLink.objects.filter(status=PartyLink.Status.SUGGESTED, connection=connection)
        .select_related("company")[:50] if connection else [],
        "webhooks": WebhookEvent.objects.filter(provider=PROVIDER).select_related("connection")[:10],
        "syncs": SyncRun.objects.filter(connection__provider=PROVIDER).select_related("connection")[:14],
        "can_manage": request.user.has_perm("core.manage_connections"),
        "can_confirm": request.user.has_perm("hub.change_company"),
        "webhook_template": webhooks.JSON_TEMPLATE,
    }
    return render(request, "erpnext/hub.html", context)


@connection_action(PROVIDER, "erpnext:hub")
def sync_now(request, connection):
    kind = SyncRun.Kind.FULL if request.POST.get("kind") == "full" else SyncRun.Kind.INCREMENTAL
    started = sum(sync.start_sync(connection, resource.name, kind=kind, user=request.user)[1] for resource in RESOURCES)
    messages.success(request, _("%(count)s synchronisation(s) lancée(s).") % {"count": started})


test = test_connection_view(PROVIDER, "erpnext:hub")


@require_POST
@staff_required("hub.change_company")
def confirm_link(request, pk: int):
    link = get_object_or_404(PartyLink, pk=pk)
    link = matching.confirm(link, request.user)
    messages.success(request, _("« %(company)s » est rapprochée de %(party)s dans ERPNext.")
                     % {"company": link.company, "party": link.party_label or link.party_name})
    back = request.POST.get("next") or request.headers.get("Referer") or ""
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()},
                                           require_https=request.is_secure()):
        back = reverse("admin:hub_company_change", args=[link.company_id])
    return HttpResponseRedirect(back)
