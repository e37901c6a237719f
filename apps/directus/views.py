"""The Directus hub page: the connection, the Flow settings to paste, the outbox, and maintenance buttons."""

from functools import wraps

from django.contrib import admin, messages
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from apps.core import sync
from apps.core.console.access import staff_required
from apps.core.console.connection_views import connection_action, test_connection_view
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


def maintenance(work):
    """A maintenance button: `work(request, connection)` returns the summary to show; a Directus error is said."""

    @connection_action(PROVIDER, "directus:hub")
    @wraps(work)
    def view(request, connection):
        try:
            messages.success(request, work(request, connection))
        except ApiError as exc:
            messages.error(request, _("Directus : %(error)s") % {"error": exc})

    return view


test = test_connection_view(PROVIDER, "directus:hub")


@maintenance
def create_schema(request, connection):
    return bootstrap(connection).summary()


@maintenance
def push_now(request, connection):
    with push.push_lock(connection, wait_seconds=10):
        return _("Envoi : %(summary)s.") % {"summary": push.push_all_due(connection).summary()}


@maintenance
def resync_now(request, connection):
    return " · ".join(resync.resync(connection).lines())


@maintenance
def poll_now(request, connection):
    started = sum(sync.start_sync(connection, key, user=request.user)[1] for key in schema.COLLECTIONS)
    return _("%(count)s lecture(s) de Directus lancée(s).") % {"count": started}
