"""The Directus hub page: the connection, the Flow settings to paste, the outbox, and maintenance buttons."""

from django.contrib import admin, messages
from django.http import HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from apps.core import sync
from apps.core.connection_check import check_connection
from apps.core.console.access import refuse, staff_required
from apps.core.http import ApiError
from apps.core.models import Connection, SyncRun, WebhookEvent
from apps.directus import push, resync, schema, webhooks
from apps.directus.bootstrap import bootstrap
from apps.directus.models import OutboxEntry

PROVIDER = "directus"


def _connections():
    return Connection.objects.filter(provider=PROVIDER).order_by("-is_active", "name")


@require_GET
@staff_required("core.view_console")
def hub(request):
    connections = list(_connections())
    panels = []
    for connection in connections:
        names = [schema.collection_name(connection, key) for key in schema.COLLECTIONS]
        panels.append({
            "connection": connection,
            "flow": webhooks.flow_settings(connection, names),
            "pending": OutboxEntry.objects.filter(connection=connection, status=OutboxEntry.Status.PENDING).count(),
            "failing": OutboxEntry.objects.filter(connection=connection, status=OutboxEntry.Status.PENDING,
                                                  attempts__gt=0).order_by("id")[:10],
        })
    context = {
        **admin.site.each_context(request),
        "title": _("Directus"),
        "panels": panels,
        "collections": list(schema.COLLECTIONS.values()),
        "webhooks": WebhookEvent.objects.filter(provider=PROVIDER).select_related("connection")[:15],
        "syncs": SyncRun.objects.filter(connection__provider=PROVIDER).select_related("connection")[:12],
        "can_manage": request.user.has_perm("core.manage_connections"),
    }
    return render(request, "directus/hub.html", context)


def _connection_from_post(request):
    try:
        return _connections().get(pk=int(request.POST.get("connection", "")))
    except (ValueError, Connection.DoesNotExist):
        return None


def _maintenance(request, work):
    connection = _connection_from_post(request)
    if connection is None:
        return refuse(request, _("Connexion introuvable."), status=404)
    try:
        messages.success(request, work(connection))
    except ApiError as exc:
        messages.error(request, _("Directus : %(error)s") % {"error": exc})
    return HttpResponseRedirect(reverse("directus:hub"))


@require_POST
@staff_required("core.manage_connections")
def test(request):
    connection = _connection_from_post(request)
    if connection is None:
        return refuse(request, _("Connexion introuvable."), status=404)
    result = check_connection(connection)
    (messages.success if result.ok else messages.error)(request, result.message)
    return HttpResponseRedirect(reverse("directus:hub"))


@require_POST
@staff_required("core.manage_connections")
def create_schema(request):
    return _maintenance(request, lambda connection: bootstrap(connection).summary())


@require_POST
@staff_required("core.manage_connections")
def push_now(request):
    def send(connection):
        with push.push_lock(connection, wait_seconds=10):
            return _("Envoi : %(summary)s.") % {"summary": push.push_all_due(connection).summary()}

    return _maintenance(request, send)


@require_POST
@staff_required("core.manage_connections")
def resync_now(request):
    return _maintenance(request, lambda connection: " · ".join(resync.resync(connection).lines()))


@require_POST
@staff_required("core.manage_connections")
def poll_now(request):
    def start(connection):
        started = sum(sync.start_sync(connection, key, user=request.user)[1] for key in schema.COLLECTIONS)
        return _("%(count)s lecture(s) de Directus lancée(s).") % {"count": started}

    return _maintenance(request, start)
