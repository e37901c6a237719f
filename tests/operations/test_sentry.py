"""Sentry: off without SENTRY_DSN; with it, request and job errors are sent with bodies, headers and secrets scrubbed.

The transport is an in-memory one: what the tests read is exactly what would have left the machine.
"""

import json

import pytest
import sentry_sdk
from django.core import signals
from django.core.handlers.wsgi import WSGIHandler
from django.db import close_old_connections
from django.test import RequestFactory
from rq import Queue, SimpleWorker
from sentry_sdk.transport import Transport

from apps.operations import logs, sentry
from tests.operations.failing_urls import SECRET_IN_MESSAGE

DSN = "https://publickey@sentry.example.test/42"
BODY_SECRET = "body-secret-client_secret-556677"
HEADER_TOKEN = "hdr_token_8899aabbccdd"
KNOWN_CONNECTION_SECRET = "connection-secret-value-314159"


class MemoryTransport(Transport):
    sent: list = []

    def capture_envelope(self, envelope):
        MemoryTransport.sent.append(envelope)

    def flush(self, timeout, callback=None):
        return None

    def kill(self):
        return None


def sent_events() -> list[dict]:
    events = []
    for envelope in MemoryTransport.sent:
        for item in envelope.items:
            if item.headers.get("type") == "event":
                events.append(json.loads(item.payload.get_bytes()))
    return events


@pytest.fixture
def reported():
    MemoryTransport.sent = []
    assert sentry.start(DSN, environment="test", transport=MemoryTransport)
    yield sent_events
    sentry_sdk.init(dsn=None)


def job_leaking_a_secret():
    raise ValueError(f"Mautic a refusé client_secret={KNOWN_CONNECTION_SECRET} (token {HEADER_TOKEN})")


def test_without_a_dsn_sentry_is_not_started():
    assert sentry.start("") is False


@pytest.mark.urls("tests.operations.failing_urls")
def test_a_request_error_is_reported_without_body_headers_or_secrets(reported, db):
    # Through the WSGI handler, as a server calls Django (sentry-sdk hooks the server-facing handlers).
    request = RequestFactory().post(
        "/explode/abcdef0123/?access_token=query-token-12345678",
        data=json.dumps({"client_secret": BODY_SECRET, "note": "ordinary"}), content_type="application/json",
        headers={"Authorization": f"Bearer {HEADER_TOKEN}", "Cookie": "sessionid=cookie-session-4242",
                 "X-Webhook-Secret": "whsec-header-7777777", "User-Agent": "InvoiceNinja/5"},
    )
    statuses = []
    # As Django's test client does: the test's database connection must outlive the request.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        b"".join(WSGIHandler()(request.environ, lambda status, headers, *args: statuses.append(status)))
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)
    assert statuses == ["500 Internal Server Error"]
    sentry_sdk.flush()

    events = [event for event in reported() if event.get("exception")]
    text = json.dumps(events, ensure_ascii=False)
    assert "RuntimeError" in text and "refus du jeton" in text  # the error itself is there...
    for secret in (SECRET_IN_MESSAGE, BODY_SECRET, HEADER_TOKEN, "cookie-session-4242", "whsec-header-7777777",
                   "query-token-12345678", "local-variable-secret-99"):
        assert secret not in text, secret  # ...nothing secret around it
    (event,) = [event for event in events if event.get("request")]
    request = event["request"]
    assert "data" not in request and "cookies" not in request
    assert set(request["headers"]) <= {name.title() for name in sentry.KEPT_HEADERS} | sentry.KEPT_HEADERS
    assert request["headers"].get("User-Agent") == "InvoiceNinja/5"
    assert event["tags"]["correlation_id"]


def test_a_failed_job_is_reported_with_the_connections_secrets_masked(reported, db, redis_connection):
    logs.remember_secret(KNOWN_CONNECTION_SECRET)
    queue = Queue("default", connection=redis_connection)
    queue.enqueue(job_leaking_a_secret)
    SimpleWorker([queue], connection=redis_connection).work(burst=True)
    sentry_sdk.flush()

    events = [event for event in reported() if event.get("exception")]
    assert events, "the job's failure was not reported"
    text = json.dumps(events, ensure_ascii=False)
    assert "ValueError" in text and "Mautic a refusé" in text
    assert KNOWN_CONNECTION_SECRET not in text
    assert HEADER_TOKEN not in text
