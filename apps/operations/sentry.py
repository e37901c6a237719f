"""Error reporting to Sentry when SENTRY_DSN is set; nothing is sent (and sentry-sdk is not started) otherwise.

What leaves the machine is scrubbed in `before_send` / `before_breadcrumb`: no request body (nor
`max_request_body_size` reads it), no cookies, headers reduced to a harmless few, no local variables in the
stack frames, and every remaining text goes through the log scrubber (apps/operations/logs.py): sensitive keys,
bearer/basic credentials, `token=` parameters, private keys, webhook endpoint ids and every secret value a
Connection holds. Web requests (Django integration) and RQ jobs (RQ integration) are both reported; each event
carries the log lines' correlation id as a tag.
"""

from __future__ import annotations

import sentry_sdk
from sentry_sdk.integrations.django import DjangoIntegration
from sentry_sdk.integrations.logging import LoggingIntegration
from sentry_sdk.integrations.rq import RqIntegration
from structlog.contextvars import get_contextvars

from apps.operations.logs import SENSITIVE_KEY, scrub_text

KEPT_HEADERS = {"user-agent", "content-type", "content-length", "accept", "accept-language", "x-request-id", "host"}


def scrub(value, key=""):
    """Mask sensitive keys and scrub every text, leaving other values (timestamps, numbers) as Sentry expects."""
    if isinstance(value, dict):
        return {k: scrub(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub(item, key) for item in value]
    if isinstance(value, str):
        return "[masqué]" if key and SENSITIVE_KEY.search(key) else scrub_text(value)
    return value


def scrub_event(event: dict, hint=None) -> dict:
    request = event.get("request")
    if isinstance(request, dict):
        request.pop("data", None)
        request.pop("cookies", None)
        request.pop("env", None)
        headers = request.get("headers") or {}
        request["headers"] = {name: scrub_text(str(value)) for name, value in headers.items()
                              if name.lower() in KEPT_HEADERS}
        if request.get("query_string"):
            request["query_string"] = "[masqué]"
        if request.get("url"):
            request["url"] = scrub_text(request["url"])
    for exception in (event.get("exception") or {}).get("values") or []:
        if isinstance(exception.get("value"), str):
            exception["value"] = scrub_text(exception["value"])
        for frame in (exception.get("stacktrace") or {}).get("frames") or []:
            frame.pop("vars", None)
    correlation_id = get_contextvars().get("correlation_id")
    if correlation_id:
        event.setdefault("tags", {})["correlation_id"] = correlation_id
    for key in ("logentry", "message", "extra", "contexts", "breadcrumbs", "user", "tags", "transaction"):
        if key in event:
            event[key] = scrub(event[key])
    if isinstance(event.get("user"), dict):
        event["user"] = {key: value for key, value in event["user"].items() if key == "id"}
    return event


def scrub_breadcrumb(crumb: dict, hint=None) -> dict:
    return scrub(crumb)


def start(dsn: str, *, environment: str = "production", release: str | None = None, transport=None) -> bool:
    """Initialise sentry-sdk when a DSN is configured; returns whether it was started."""
    if not dsn:
        return False
    options = {}
    if transport is not None:
        options["transport"] = transport
    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        release=release,
        integrations=[DjangoIntegration(), RqIntegration(), LoggingIntegration()],
        include_local_variables=False,
        max_request_body_size="never",
        before_send=scrub_event,
        before_breadcrumb=scrub_breadcrumb,
        traces_sample_rate=0,
        **options,
    )
    return True
