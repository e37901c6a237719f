"""GET /metrics: the Prometheus text format, for a scraper holding the token or calling from an allowed address.

Access (fail closed):
- METRICS_TOKEN set: `Authorization: Bearer <token>`, compared in constant time;
- METRICS_ALLOWED_IPS set: addresses or networks (`10.0.0.0/8, ::1`) matched against REMOTE_ADDR
  (behind a reverse proxy, that is the proxy: list it, and let the proxy restrict /metrics);
- neither set: 404, the page does not exist; a request matching neither: 403.
"""

import ipaddress
from secrets import compare_digest

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import HttpResponse, HttpResponseForbidden, HttpResponseNotFound
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from apps.operations.collectors import registry


def allowed_networks():
    networks = []
    for item in getattr(settings, "METRICS_ALLOWED_IPS", ()):
        try:
            networks.append(ipaddress.ip_network(item.strip(), strict=False))
        except ValueError:
            continue  # a typo names nobody rather than everybody
    return networks


def token_matches(request) -> bool:
    expected = getattr(settings, "METRICS_TOKEN", "")
    scheme, _, offered = request.headers.get("Authorization", "").partition(" ")
    return bool(expected and scheme.lower() == "bearer" and offered
                and compare_digest(expected.encode(), offered.strip().encode()))


def address_allowed(request, networks) -> bool:
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(address in network for network in networks)


@login_not_required
@never_cache
@require_GET
def metrics(request):
    networks = allowed_networks()
    if not getattr(settings, "METRICS_TOKEN", "") and not networks:
        return HttpResponseNotFound()
    if not (token_matches(request) or address_allowed(request, networks)):
        return HttpResponseForbidden()
    return HttpResponse(generate_latest(registry()), content_type=CONTENT_TYPE_LATEST)
