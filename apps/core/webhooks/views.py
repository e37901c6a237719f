"""The webhook inbox: POST /hooks/<provider>/<endpoint uuid>/[<event>/].

Order of work: size limit -> endpoint -> secret configured -> signature on the raw bytes -> body parsed ->
stored -> acknowledged, processing enqueued after commit. A refused delivery (no signature header, a bad
signature, an unreadable body) is stored as `rejected` for the log, under an hourly quota per connection. A known endpoint never answers 404/405/410
(Invoice Ninja and Mautic disable the webhook on those) and no hook is ever redirected.
"""

from __future__ import annotations

import ipaddress
import logging
import uuid

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import HttpResponse, JsonResponse
from django.views.decorators.common import no_append_slash
from django.views.decorators.csrf import csrf_exempt

from apps.core import providers
from apps.core.encryption import DecryptionError
from apps.core.webhooks import endpoints
from apps.core.webhooks.inbox import store_rejected, store_verified
from apps.core.webhooks.redaction import capped_headers
from apps.core.webhooks.verifiers import InvalidSignature, MissingSignature, NoSecretConfigured, VerificationError

logger = logging.getLogger(__name__)


def refusal(status: int, message: str) -> JsonResponse:
    return JsonResponse({"status": "refused", "detail": message}, status=status,
                        json_dumps_params={"ensure_ascii": False})


def too_large() -> JsonResponse:
    return refusal(413, "Corps de requête trop volumineux.")


def client_address(request) -> str | None:
    """The sender's IP address, or None: behind a trusted proxy, uvicorn's --proxy-headers copies
    X-Forwarded-For into REMOTE_ADDR as is, so "unknown" or any text may arrive (and PostgreSQL's inet
    column would refuse it, losing a valid delivery)."""
    try:
        return str(ipaddress.ip_address((request.META.get("REMOTE_ADDR") or "").strip()))
    except ValueError:
        return None


def declared_length(request) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


@csrf_exempt
@login_not_required
@no_append_slash
def receive(request, provider: str, endpoint_id, url_event: str | None = None):
    limit = settings.WEBHOOK_MAX_BODY_BYTES
    if request.method == "POST" and declared_length(request) > limit:
        return too_large()

    try:
        endpoint_uuid = uuid.UUID(endpoint_id)
    except ValueError:
        return refusal(404, "Point de réception inconnu.")
    connection = endpoints.find(provider, endpoint_uuid)
    if connection is None:
        return refusal(404, "Point de réception inconnu.")
    try:
        plugin = providers.get(provider)
    except providers.UnknownProvider:
        # The endpoint exists but its system app is not installed: a temporary refusal, not a 404.
        return refusal(503, "Système non installé sur cette console.")

    if request.method != "POST":
        return HttpResponse("Point de réception de webhooks actif.\n", content_type="text/plain; charset=utf-8")

    try:
        body = request.read(limit + 1)
    except (ValueError, OSError):
        # Under ASGI the body is closed once the sender has hung up, while this view still runs: nobody is
        # left to answer, but not with a 500 and a traceback in the log (nothing was stored: it will resend).
        return refusal(400, "Corps de requête interrompu : l'expéditeur a coupé la connexion.")
    if len(body) > limit:
        return too_large()

    remote_addr = client_address(request)
    try:
        webhook_secrets = connection.webhook_secrets
    except DecryptionError as exc:
        logger.error("%s", exc)  # one line naming the connection and the remedy (also a system check)
        return refusal(503, "Secret de webhook illisible sur cette console : délivrance refusée, à renvoyer.")
    try:
        plugin.verifier(connection).verify(request.headers, body, webhook_secrets)
    except NoSecretConfigured:
        return refusal(503, "Aucun secret de webhook configuré pour cette connexion.")
    except MissingSignature as exc:
        # Counted like any refused delivery (webhook log, the connection's card), under the same hourly quota;
        # an unsigned body is nobody's and is not kept, nor more than a few of its headers.
        store_rejected(connection, body=b"", headers=capped_headers(request.headers),
                       error=f"En-tête de signature absent : {exc.header}", remote_addr=remote_addr)
        return refusal(400, str(exc))
    except VerificationError as exc:
        store_rejected(connection, body=body, headers=request.headers, error=str(exc), remote_addr=remote_addr)
        return refusal(exc.status_code, "Signature invalide." if isinstance(exc, InvalidSignature) else str(exc))

    try:
        description = plugin.describe_event(body, request.headers, url_event)
    except (ValueError, TypeError, LookupError, AttributeError, RecursionError):
        # Whatever the body holds (nested past the parser's recursion limit, wrong shapes), it is a 400.
        store_rejected(connection, body=body, headers=request.headers, error="JSON invalide",
                       remote_addr=remote_addr)
        return refusal(400, "JSON invalide.")

    event = store_verified(connection, plugin, description, body=body, headers=request.headers,
                           remote_addr=remote_addr)
    return JsonResponse({"status": event.status, "id": event.pk})
