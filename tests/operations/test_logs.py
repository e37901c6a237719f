"""Structured logs: one JSON line per request, job, action run and vendor call, one correlation id across them,
and no secret in any line."""

import io
import json
import logging

import pytest
import responses
from django.contrib.contenttypes.models import ContentType
from django.test import Client

from apps.core import providers
from apps.core.http import ApiClient, ClientError
from apps.core.models import ActionRun, Connection, WebhookEvent
from apps.operations import logs
from tests.core.webhook_doubles import HANDLED_TYPE, registered_hook
from tests.workers import run_jobs

API_TOKEN = "tok_live_9f8e7d6c5b4a39281706"
WEBHOOK_SECRET = "whsec-logs-5b0c1d2e3f4a5b6c"
CLIENT_SECRET = "cs_oauth_77aa88bb99cc00dd"
PRIVATE_KEY = ("-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7\n"
               "QmFzZTY0U2VjcmV0S2V5TWF0ZXJpYWw=\n-----END PRIVATE KEY-----\n")
KEY_MATERIAL = "QmFzZTY0U2VjcmV0S2V5TWF0ZXJpYWw"
VENDOR = "https://vendor.example.test/api"


@pytest.fixture
def log_lines():
    """Every line the root logger writes while the test runs, rendered as production renders them (json)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.formatter("json"))
    root = logging.getLogger()
    previous_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
    root.removeHandler(handler)
    root.setLevel(previous_level)


class TokenClient(ApiClient):
    def auth_headers(self):
        return {"Authorization": f"Bearer {self.connection.secret('api_token')}"}


def handle_and_call_the_vendor(event):
    """A handler as the systems write them: an action run, a vendor call, and a careless log line or two."""
    connection = Connection.objects.get(pk=event.connection_id)
    run = ActionRun.objects.create(action="double.send", label="Envoyer", idempotency_key=f"run-{event.pk}",
                                   content_type=ContentType.objects.get_for_model(Connection),
                                   object_id=str(connection.pk))
    TokenClient(connection, base_url=VENDOR).get("things", params={"access_token": API_TOKEN})
    logging.getLogger("apps.double").warning("Jeton refusé : %s (secret %s)", API_TOKEN, WEBHOOK_SECRET)
    logging.getLogger("apps.double").info("appel", extra={"headers": {"Authorization": f"Bearer {API_TOKEN}"},
                                                         "client_secret": CLIENT_SECRET})
    try:
        raise ClientError(f"refusé avec {API_TOKEN} et {PRIVATE_KEY}")
    except ClientError:
        logging.getLogger("apps.double").exception("Échec de l'appel")
    run.status = ActionRun.Status.SUCCEEDED
    run.save()


@pytest.fixture
def hook(transactional_db, redis_connection):
    """Transactional: the inbox enqueues on commit, inside the request, as in production."""
    hook = registered_hook(handlers={HANDLED_TYPE: handle_and_call_the_vendor}, secret=WEBHOOK_SECRET,
                           secrets={"api_token": API_TOKEN, "client_secret": CLIENT_SECRET,
                                    "private_key_pem": PRIVATE_KEY})
    yield hook
    providers.unregister(hook.scheme.provider_key)


@responses.activate
def test_a_delivery_its_job_action_run_and_vendor_call_share_one_correlation_id(hook, log_lines):
    responses.get(f"{VENDOR}/things", json={"ok": True}, headers={"X-Request-Id": "vendor-req-1"})

    response = hook.post()
    assert response.status_code == 200
    correlation_id = response["X-Request-ID"]
    run_jobs()

    lines = log_lines()
    by_event = {}
    for line in lines:
        by_event.setdefault(line["event"], []).append(line)
    (request,) = [line for line in by_event["request"] if line["path"].startswith("/hooks/")]
    assert request["correlation_id"] == correlation_id
    assert request["method"] == "POST" and request["status"] == 200
    assert request["path"] == f"/hooks/{hook.scheme.provider_key}/…/"  # the endpoint id is half the secret
    # The delivery is named on the request's own line: one line per delivery, not a second `webhook_stored` one.
    event = WebhookEvent.objects.get()
    assert (request["webhook_event_id"], request["provider"], request["event_type"], request["webhook_status"]) == (
        event.pk, hook.scheme.provider_key, HANDLED_TYPE, "received")
    assert "webhook_stored" not in by_event
    (job,) = by_event["job"]
    assert job["correlation_id"] == correlation_id
    assert job["func"] == "apps.core.webhooks.processing.process_event" and job["status"] == "succeeded"
    assert {line["status"] for line in by_event["action_run"]} == {"running", "succeeded"}
    assert {line["correlation_id"] for line in by_event["action_run"]} == {correlation_id}
    (call,) = by_event["vendor_call"]
    assert call["correlation_id"] == correlation_id and call["job_id"] == job["job_id"]
    assert call["status"] == 200 and call["request_id"] == "vendor-req-1"
    # The handler's own lines carry the id too.
    assert {line["correlation_id"] for line in lines if line["logger"] == "apps.double"} == {correlation_id}


@responses.activate
def test_no_secret_reaches_any_log_line(hook, log_lines):
    responses.get(f"{VENDOR}/things", json={"ok": True})
    hook.post()
    # A refused delivery logs too: its forged signature must not be echoed either.
    hook.post(secret="whsec-forged-000000000000")
    run_jobs()
    client = Client()
    client.get("/admin/login/", headers={"Authorization": f"Bearer {API_TOKEN}", "Cookie": "sessionid=s3ss10nv4lu3"})

    text = "\n".join(json.dumps(line, ensure_ascii=False) for line in log_lines())
    assert "Échec de l'appel" in text and "Jeton refusé" in text  # the careless lines were written...
    for secret in (API_TOKEN, WEBHOOK_SECRET, CLIENT_SECRET, KEY_MATERIAL, "BEGIN PRIVATE KEY", str(hook.connection
                   .webhook_endpoint_id), "s3ss10nv4lu3", "whsec-forged-000000000000"):
        assert secret not in text, secret  # ...without the secrets


def test_the_scrubber_masks_by_key_by_shape_and_by_known_value():
    logs.remember_secret("a-known-value-123")
    event = logs.scrub_secrets(None, "info", {
        "event": "x a-known-value-123 y",
        "authorization": "Bearer abcdefghijkl",
        "headers": {"X-Api-Token": "zzzzzzzz", "Accept": "application/json"},
        "url": "https://h/cb?code=qwertyuiop&state=1",
        "note": "Authorization: Basic dXNlcjpwYXNzd29yZA==",
        "count": 3,
    })
    assert event["event"] == "x *** y"
    assert event["authorization"] == "***"
    assert event["headers"] == {"X-Api-Token": "***", "Accept": "application/json"}
    assert event["url"] == "https://h/cb?code=***&state=1"
    assert "dXNlcjpwYXNzd29yZA" not in event["note"]
    assert event["count"] == 3


def test_console_format_is_readable_and_json_format_is_one_object_per_line():
    record = logging.LogRecord("apps.x", logging.INFO, __file__, 1, "Synchronisation terminée", None, None)
    readable = logs.formatter("console").format(record)
    assert "Synchronisation terminée" in readable and not readable.lstrip().startswith("{")
    parsed = json.loads(logs.formatter("json").format(record))
    assert parsed["event"] == "Synchronisation terminée" and parsed["level"] == "info"


def test_a_job_enqueued_outside_a_request_is_its_own_correlation(db, redis_connection, log_lines):
    from apps.core import jobs

    job = jobs.enqueue_now("apps.core.sync.resume_stale_runs", queue="sync")
    assert "correlation_id" not in job.meta
    run_jobs("sync")
    (line,) = [line for line in log_lines() if line["event"] == "job"]
    assert line["correlation_id"] == job.id


def test_a_request_id_offered_by_the_proxy_is_kept_and_a_hostile_one_replaced(client, db):
    assert client.get("/healthz", headers={"X-Request-ID": "lb-1234abcd"})["X-Request-ID"] == "lb-1234abcd"
    replaced = client.get("/healthz", headers={"X-Request-ID": "<script>alert(1)</script>"})["X-Request-ID"]
    assert replaced != "<script>alert(1)</script>" and len(replaced) == 32
