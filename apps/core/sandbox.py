"""Shared plumbing of the vendor emulators mounted under /sandbox/<system>/.

Routes are always declared but answer 404 unless settings.SANDBOX is on (production settings refuse
to turn it on), so tests can switch it per test with the `settings` fixture.
"""

from functools import wraps

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import Http404
from django.views.decorators.csrf import csrf_exempt


def sandbox_view(view):
    """An emulated vendor endpoint: no console login, no CSRF (it is someone else's API), 404 when off."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not settings.SANDBOX:
            raise Http404("Sandbox désactivée")
        return view(request, *args, **kwargs)

    return csrf_exempt(login_not_required(wrapper))
