"""The maintenance buttons every system's hub page carries, as one kernel rule.

Each button posts the id of one of that system's connections; the view finds it among the provider's own
connections only (an id of another provider's connection is "introuvable", never acted upon), requires
`core.manage_connections`, does its work, reports in a flash message and returns to the hub page.
"""

from collections.abc import Callable
from functools import wraps

from django.contrib import messages
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from apps.core.connection_check import check_connection
from apps.core.console.access import refuse, staff_required
from apps.core.models import Connection


def connection_from_post(request, provider: str) -> Connection | None:
    try:
        return Connection.objects.get(provider=provider, pk=int(request.POST.get("connection", "")))
    except (ValueError, Connection.DoesNotExist):
        return None


def connection_action(provider: str, hub_url: str, permission: str = "core.manage_connections"):
    """Decorate `work(request, connection)`, which reports through `messages`, into a hub button's view."""

    def decorator(work: Callable):
        @require_POST
        @staff_required(permission)
        @wraps(work)
        def view(request):
            connection = connection_from_post(request, provider)
            if connection is None:
                return refuse(request, _("Connexion introuvable."), status=404)
            work(request, connection)
            return HttpResponseRedirect(reverse(hub_url))

        return view

    return decorator


def test_connection_view(provider: str, hub_url: str):
    """"Tester la connexion": the provider's own check, recorded on the connection's health."""

    @connection_action(provider, hub_url)
    def test(request, connection):
        result = check_connection(connection)
        (messages.success if result.ok else messages.error)(request, result.message)

    return test
