"""/metrics: who may read it, and that each figure reflects the rows and Redis keys the console really holds."""

from datetime import datetime, timedelta

import pytest
import redis
from django.contrib.contenttypes.models import ContentType
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from apps.core import jobs
from apps.core.models import ActionRun, ApiCall, Connection, SyncRun, WebhookEvent
from apps.core.scheduler import LOCK_KEY
from apps.operations import figures

TOKEN = "metrics-token-for-tests-0123456789"


@pytest.fixture
def metrics_token(settings):
    settings.METRICS_TOKEN = TOKEN
    settings.METRICS_ALLOWED_IPS = []
    return TOKEN


def scrape(client) -> dict:
    """{(name, frozenset(labels)): value} of every sample /metrics answers."""
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=")
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples, name, **labels):
    return samples[(name, frozenset(labels.items()))]


def connection(provider, slug, **fields):
    return Connection.objects.create(provider=provider, name=slug.title(), slug=slug, **fields)


def event(conn, status, *, received_ago, processed_after=None, key=""):
    row = WebhookEvent.objects.create(connection=conn, provider=conn.provider, event_type="quote.created",
                                      provider_event_id=key, status=status, body=b"{}")
    received_at = timezone.now() - received_ago
    processed_at = received_at + processed_after if processed_after is not None else None
    WebhookEvent.objects.filter(pk=row.pk).update(received_at=received_at, processed_at=processed_at)
    return row


# --- access ---------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_without_token_nor_addresses_the_page_does_not_exist(client, settings):
    settings.METRICS_TOKEN, settings.METRICS_ALLOWED_IPS = "", []
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer anything").status_code == 404


@pytest.mark.django_db
@pytest.mark.parametrize("authorization", ["", "Bearer wrong-token", f"Basic {TOKEN}", f"Bearer {TOKEN}x", "Bearer "])
def test_a_missing_or_wrong_token_is_refused(client, metrics_token, authorization, redis_connection):
    headers = {"HTTP_AUTHORIZATION": authorization} if authorization else {}
    response = client.get("/metrics", **headers)
    assert response.status_code == 403
    assert b"console_" not in response.content


@pytest.mark.django_db
def test_the_token_opens_the_metrics_without_a_login(client, metrics_token, redis_connection):
    samples = scrape(client)
    assert value(samples, "console_redis_up") == 1


@pytest.mark.django_db
def test_allowed_addresses_read_without_token_others_are_refused(client, settings, redis_connection):
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_IPS = ["10.1.0.0/16", "not-an-address"]
    assert client.get("/metrics", REMOTE_ADDR="10.1.4.2").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="10.2.4.2").status_code == 403
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 403


@pytest.mark.django_db
def test_metrics_refuse_writes(client, metrics_token):
    assert client.post("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 405


# --- figures --------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_webhook_figures_deliveries_waiting_and_latency(client, metrics_token, redis_connection):
    ninja = connection("invoiceninja", "ninja")
    event(ninja, WebhookEvent.Status.RECEIVED, received_ago=timedelta(minutes=5), key="a")
    event(ninja, WebhookEvent.Status.QUEUED, received_ago=timedelta(seconds=30), key="b")
    event(ninja, WebhookEvent.Status.PROCESSED, received_ago=timedelta(minutes=3),
          processed_after=timedelta(seconds=3), key="c")
    event(ninja, WebhookEvent.Status.PROCESSED, received_ago=timedelta(minutes=2),
          processed_after=timedelta(milliseconds=300), key="d")
    # Processed long ago: outside the latency window.
    event(ninja, WebhookEvent.Status.PROCESSED, received_ago=timedelta(hours=2),
          processed_after=timedelta(seconds=1), key="e")
    event(ninja, WebhookEvent.Status.FAILED, received_ago=timedelta(minutes=1), key="f")

    samples = scrape(client)

    deliveries = {status: value(samples, "console_webhook_deliveries", provider="invoiceninja",
                                connection="ninja", status=status)
                  for status in ("received", "queued", "processed", "failed")}
    assert deliveries == {"received": 1, "queued": 1, "processed": 3, "failed": 1}
    assert value(samples, "console_webhook_events_waiting") == 2
    assert 299 <= value(samples, "console_webhook_oldest_waiting_seconds") <= 310
    assert value(samples, "console_inbox_latency_seconds_bucket", le="0.5") == 1
    assert value(samples, "console_inbox_latency_seconds_bucket", le="2.0") == 1
    assert value(samples, "console_inbox_latency_seconds_bucket", le="5.0") == 2
    assert value(samples, "console_inbox_latency_seconds_bucket", le="+Inf") == 2
    assert value(samples, "console_inbox_latency_seconds_gsum") == pytest.approx(3.3, abs=0.01)


@pytest.mark.django_db
def test_queue_workers_and_scheduler_leader_come_from_redis(client, metrics_token, redis_connection):
    assert value(scrape(client), "console_scheduler_leader") == 0

    jobs.enqueue_now("apps.core.sync.resume_stale_runs", queue="webhooks")
    jobs.enqueue_now("apps.core.sync.resume_stale_runs", queue="webhooks")
    redis_connection.set(LOCK_KEY, "scheduler-a", px=20_000)

    samples = scrape(client)
    assert value(samples, "console_rq_queue_depth", queue="webhooks") == 2
    assert value(samples, "console_rq_queue_depth", queue="sync") == 0
    assert 0 <= value(samples, "console_rq_oldest_job_age_seconds", queue="webhooks") < 60
    assert value(samples, "console_rq_workers_alive") == 0
    assert value(samples, "console_scheduler_leader") == 1
    assert 0 < value(samples, "console_scheduler_lease_seconds") <= 20


@pytest.mark.django_db
def test_sync_freshness_per_connection_and_resource(client, metrics_token, redis_connection):
    ninja = connection("invoiceninja", "ninja")
    Connection.objects.filter(pk=ninja.pk).update(created_at=timezone.now() - timedelta(days=1))
    SyncRun.objects.create(connection=ninja, resource="quotes", status=SyncRun.Status.SUCCEEDED,
                           finished_at=timezone.now() - timedelta(minutes=20))
    SyncRun.objects.create(connection=ninja, resource="quotes", status=SyncRun.Status.FAILED,
                           finished_at=timezone.now() - timedelta(minutes=1))

    samples = scrape(client)
    labels = {"provider": "invoiceninja", "connection": "ninja"}
    assert 1195 <= value(samples, "console_sync_seconds_since_success", resource="quotes", **labels) <= 1210
    # Never succeeded: counted from the connection's creation, so a sync that never worked is alerted too.
    assert value(samples, "console_sync_seconds_since_success", resource="clients", **labels) >= 86_400
    assert value(samples, "console_sync_period_seconds", resource="quotes", **labels) == 300


@pytest.mark.django_db
def test_action_runs_and_vendor_calls(client, metrics_token, redis_connection):
    ninja = connection("invoiceninja", "ninja")
    target = ContentType.objects.get_for_model(Connection)
    for index, status in enumerate(["failed", "failed", "pending_approval", "succeeded"]):
        ActionRun.objects.create(action="x", label="x", content_type=target, object_id="1",
                                 idempotency_key=f"k{index}", status=status)
    for status, duration in [(200, 120), (201, 80), (503, 2000), (None, 10_000)]:
        ApiCall.objects.create(connection=ninja, method="GET", url="https://x/", status_code=status,
                               duration_ms=duration)
    old = ApiCall.objects.create(connection=ninja, method="GET", url="https://x/", status_code=500)
    ApiCall.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(hours=1))

    samples = scrape(client)
    assert value(samples, "console_action_runs", status="failed") == 2
    assert value(samples, "console_action_runs", status="pending_approval") == 1
    labels = {"provider": "invoiceninja", "connection": "ninja"}
    assert value(samples, "console_vendor_calls", status_class="2xx", **labels) == 2
    assert value(samples, "console_vendor_calls", status_class="5xx", **labels) == 1
    assert value(samples, "console_vendor_calls", status_class="error", **labels) == 1
    assert value(samples, "console_vendor_call_duration_seconds_sum", status_class="2xx", **labels) == 0.2
    assert value(samples, "console_vendor_call_duration_seconds_max", status_class="error", **labels) == 10


@pytest.mark.django_db
def test_circuit_tokens_and_the_revolut_budget(client, metrics_token, redis_connection):
    now = timezone.now()
    connection("invoiceninja", "ninja", circuit_open_until=now + timedelta(seconds=40), consecutive_failures=5)
    revolut = connection("revolut", "bank", token_status=Connection.TokenStatus.OK,
                         token_expires_at=now + timedelta(minutes=30),
                         oauth_token={"access_token": "a", "refresh_token": "r"})
    connection("mautic", "mails", token_status=Connection.TokenStatus.RECONNECT_REQUIRED,
               oauth_token={"access_token": "a", "refresh_token": "r",
                            "refresh_token_issued_at": (now - timedelta(days=10)).isoformat()})
    from apps.revolut.rate_limit import RequestBudget

    for _ in range(7):
        RequestBudget(str(revolut.pk)).try_reserve()

    samples = scrape(client)
    assert value(samples, "console_circuit_open", provider="invoiceninja", connection="ninja") == 1
    assert value(samples, "console_circuit_open", provider="revolut", connection="bank") == 0
    assert value(samples, "console_connection_consecutive_failures", provider="invoiceninja", connection="ninja") == 5
    assert 1790 <= value(samples, "console_oauth_token_expiry_seconds", provider="revolut", connection="bank") <= 1800
    assert value(samples, "console_oauth_reconnect_required", provider="revolut", connection="bank") == 0
    assert value(samples, "console_oauth_reconnect_required", provider="mautic", connection="mails") == 1
    four_days = 4 * 86_400
    refresh = value(samples, "console_oauth_refresh_token_expiry_seconds", provider="mautic", connection="mails")
    assert four_days - 60 <= refresh <= four_days
    assert value(samples, "console_revolut_request_budget_remaining", provider="revolut", connection="bank") == 53
    # No OAuth at all: no token figures rather than a misleading zero.
    assert ("console_oauth_reconnect_required",
            frozenset({"provider": "invoiceninja", "connection": "ninja"}.items())) not in samples


def test_a_new_refresh_token_restarts_its_expiry_clock_and_a_kept_one_does_not(db):
    from apps.core import oauth2

    mails = connection("mautic", "mails")
    oauth2.store_tokens(mails, {"access_token": "a1", "refresh_token": "r1", "expires_in": 3600})
    first = datetime.fromisoformat(mails.oauth_token["refresh_token_issued_at"])
    assert abs((timezone.now() - first).total_seconds()) < 5
    Connection.objects.filter(pk=mails.pk).update(oauth_token={**mails.oauth_token, "refresh_token_issued_at":
                                                               "2026-01-01T00:00:00+00:00"})
    mails.refresh_from_db()
    oauth2.store_tokens(mails, {"access_token": "a2", "expires_in": 3600}, keep_refresh_token="r1")
    assert mails.oauth_token["refresh_token_issued_at"] == "2026-01-01T00:00:00+00:00"
    oauth2.store_tokens(mails, {"access_token": "a3", "refresh_token": "r2", "expires_in": 3600})
    assert mails.oauth_token["refresh_token_issued_at"] != "2026-01-01T00:00:00+00:00"


@pytest.mark.django_db
def test_responses_are_counted_by_status_class_across_processes(client, metrics_token, redis_connection):
    before = value(scrape(client), "console_http_responses_total", code_class="4xx")
    client.get("/metrics")  # 403
    client.get("/metrics", HTTP_AUTHORIZATION="Bearer nope")  # 403
    # Another process's counts land in the same Redis hash.
    redis_connection.hincrby(figures.HTTP_RESPONSES_KEY, "5xx", 3)
    samples = scrape(client)
    assert value(samples, "console_http_responses_total", code_class="4xx") == before + 2
    assert value(samples, "console_http_responses_total", code_class="5xx") == 3


@pytest.mark.django_db
def test_redis_down_still_answers_with_the_database_figures(client, metrics_token, monkeypatch):
    ninja = connection("invoiceninja", "ninja")
    event(ninja, WebhookEvent.Status.RECEIVED, received_ago=timedelta(minutes=1), key="a")
    dead = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    monkeypatch.setattr(figures, "redis_connection", lambda: dead)
    monkeypatch.setattr("apps.operations.middleware.redis_connection", lambda: dead)
    monkeypatch.setattr("apps.revolut.rate_limit._client", dead)

    samples = scrape(client)
    assert value(samples, "console_redis_up") == 0
    assert value(samples, "console_webhook_events_waiting") == 1
    assert not any(name == "console_rq_queue_depth" for name, _ in samples)
