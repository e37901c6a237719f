"""The stored row is the queue: a delivery's request writes one row and nothing to Redis; the worker's dispatcher
hands waiting rows to the `webhooks` queue, in batches."""

import time

import pytest
from django.db import connection as db_connection
from django.db import transaction
from redis.exceptions import ConnectionError as RedisConnectionError
from rq.job import Job

from apps.core import providers, signals
from apps.core.models import TimelineEntry, WebhookEvent
from apps.core.webhooks import dispatch
from apps.core.webhooks.processing import job_id_for
from tests.core.webhook_doubles import HANDLED_TYPE, Base64BodyScheme, record_effect, registered_hook

Status = WebhookEvent.Status


@pytest.fixture
def hook(redis_connection):
    hook = registered_hook(Base64BodyScheme, handlers={HANDLED_TYPE: record_effect})
    yield hook
    providers.unregister(hook.scheme.provider_key)


def job_of(event, redis_connection):
    return Job.fetch(job_id_for(event.pk), connection=redis_connection) if redis_connection.exists(
        f"rq:job:{job_id_for(event.pk)}") else None


@pytest.mark.django_db(transaction=True)
def test_a_delivery_is_acknowledged_with_one_row_and_nothing_written_to_redis(hook, redis_connection):
    redis_connection.flushdb()
    response = hook.post(event_id="evt-1")
    assert response.status_code == 200
    assert response.json()["status"] == Status.RECEIVED
    assert WebhookEvent.objects.get().status == Status.RECEIVED
    assert redis_connection.keys("rq:*") == []  # no job, no queue: only the row


@pytest.mark.django_db(transaction=True)
def test_the_dispatcher_queues_waiting_deliveries_oldest_first_with_their_requests_correlation_id(
        hook, redis_connection):
    responses = [hook.post(event_id=f"evt-{n}") for n in range(3)]
    events = list(WebhookEvent.objects.order_by("pk"))

    assert dispatch.dispatch_received() == 3

    assert [e.status for e in WebhookEvent.objects.order_by("pk")] == [Status.QUEUED] * 3
    queued = [job_id.decode() for job_id in redis_connection.lrange("rq:queue:webhooks", 0, -1)]
    assert queued == [job_id_for(e.pk) for e in events]
    for event, response in zip(events, responses):
        assert job_of(event, redis_connection).meta["correlation_id"] == response["X-Request-ID"]
    assert dispatch.dispatch_received() == 0  # nothing is queued twice


@pytest.mark.django_db(transaction=True)
def test_a_batch_takes_at_most_its_size_and_the_rest_follows(hook, redis_connection):
    for n in range(5):
        hook.post(event_id=f"evt-{n}")
    assert dispatch.dispatch_received(limit=2) == 2
    assert WebhookEvent.objects.filter(status=Status.RECEIVED).count() == 3
    assert dispatch.dispatch_received(limit=2) == 2
    assert dispatch.dispatch_received(limit=2) == 1
    assert WebhookEvent.objects.filter(status=Status.QUEUED).count() == 5


@pytest.mark.django_db(transaction=True)
def test_deliveries_stay_waiting_while_redis_refuses_and_go_once_it_answers(hook, redis_connection, monkeypatch):
    hook.post(event_id="evt-1")
    event = WebhookEvent.objects.get()

    def refused(*args, **kwargs):
        raise RedisConnectionError("Redis est arrêté")

    monkeypatch.setattr("redis.client.Pipeline.execute", refused)
    assert dispatch.dispatch_received() == 0
    event.refresh_from_db()
    assert event.status == Status.RECEIVED

    monkeypatch.undo()
    assert dispatch.dispatch_received() == 1
    event.refresh_from_db()
    assert event.status == Status.QUEUED
    assert job_of(event, redis_connection) is not None


@pytest.mark.django_db(transaction=True)
def test_ignored_and_duplicate_deliveries_are_never_dispatched(hook, redis_connection):
    hook.post(event_id="evt-1")
    hook.post(event_id="evt-1")  # a redelivery
    hook.post(event_id="evt-2", event_type="thing.unknown")
    assert sorted(WebhookEvent.objects.values_list("status", flat=True)) == sorted(
        [Status.RECEIVED, Status.DUPLICATE, Status.IGNORED])
    assert dispatch.dispatch_received() == 1


@pytest.mark.django_db(transaction=True)
def test_a_dispatched_batch_is_announced_once_for_the_live_feed(hook, redis_connection):
    announced = []

    def listener(sender, event_ids, **kwargs):
        announced.append(list(event_ids))

    signals.webhook_events_queued.connect(listener, sender=WebhookEvent, dispatch_uid="test-dispatch")
    try:
        for n in range(3):
            hook.post(event_id=f"evt-{n}")
        dispatch.dispatch_received()
    finally:
        signals.webhook_events_queued.disconnect(dispatch_uid="test-dispatch", sender=WebhookEvent)
    assert announced == [list(WebhookEvent.objects.order_by("pk").values_list("pk", flat=True))]


@pytest.mark.django_db(transaction=True)
def test_the_worker_in_burst_mode_dispatches_then_processes(hook, redis_connection):
    import django_rq

    hook.post(event_id="evt-1")
    django_rq.get_worker("webhooks").work(burst=True)
    event = WebhookEvent.objects.get()
    assert event.status == Status.PROCESSED
    assert TimelineEntry.objects.filter(webhook_event=event).count() == 1


def wait_for(predicate, seconds=5.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


@pytest.mark.django_db(transaction=True)
def test_the_dispatcher_thread_queues_a_delivery_within_moments(hook, redis_connection):
    dispatcher = dispatch.Dispatcher()
    dispatcher.start()
    try:
        time.sleep(0.3)  # listening
        started = time.monotonic()
        hook.post(event_id="evt-1")
        assert wait_for(lambda: WebhookEvent.objects.get().status == Status.QUEUED)
        waited = time.monotonic() - started
    finally:
        dispatcher.stop()
        dispatcher.join(10)
    assert not dispatcher.is_alive()
    assert waited < dispatch.POLL_SECONDS + 1.0




@pytest.mark.django_db(transaction=True)
def test_a_backlog_larger_than_a_batch_is_dispatched_whole(hook, redis_connection, monkeypatch):
    monkeypatch.setattr(dispatch, "BATCH_SIZE", 2)
    for n in range(5):
        hook.post(event_id=f"evt-{n}")
    assert dispatch.dispatch_all() == 5
    assert set(WebhookEvent.objects.values_list("status", flat=True)) == {Status.QUEUED}
    assert redis_connection.llen("rq:queue:webhooks") == 5


@pytest.mark.django_db(transaction=True)
def test_a_burst_reaches_redis_in_batches_of_at_most_batch_size(hook, redis_connection):
    """However long the backlog, one transaction locks and one pipeline carries at most BATCH_SIZE deliveries."""
    burst = 2 * dispatch.BATCH_SIZE + 1
    WebhookEvent.objects.bulk_create(
        WebhookEvent(connection=hook.connection, provider=hook.connection.provider, event_type=HANDLED_TYPE,
                     provider_event_id=f"evt-{n}", body=b"{}") for n in range(burst))
    batches = []

    def listener(sender, event_ids, **kwargs):
        batches.append(len(event_ids))

    signals.webhook_events_queued.connect(listener, sender=WebhookEvent, dispatch_uid="test-burst")
    try:
        assert dispatch.dispatch_all() == burst
    finally:
        signals.webhook_events_queued.disconnect(dispatch_uid="test-burst", sender=WebhookEvent)
    assert batches == [dispatch.BATCH_SIZE, dispatch.BATCH_SIZE, 1]
    assert redis_connection.llen("rq:queue:webhooks") == burst


@pytest.mark.django_db(transaction=True)
def test_redis_refusing_a_batch_puts_back_that_batch_only(hook, redis_connection, monkeypatch):
    hook.post(event_id="evt-queued-before")
    assert dispatch.dispatch_received() == 1
    hook.post(event_id="evt-new")

    def refused(*args, **kwargs):
        raise RedisConnectionError("Redis est arrêté")

    monkeypatch.setattr("redis.client.Pipeline.execute", refused)
    assert dispatch.dispatch_received() == 0
    statuses = dict(WebhookEvent.objects.values_list("provider_event_id", "status"))
    # The one already queued keeps its job and its status: it is not taken again.
    assert statuses == {"evt-queued-before": Status.QUEUED, "evt-new": Status.RECEIVED}


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(db_connection.vendor != "postgresql", reason="row locks: PostgreSQL only (SQLite has none)")
def test_rows_another_dispatcher_holds_are_skipped_not_waited_for(hook, redis_connection):
    """Two workers dispatching at once: each takes rows the other has not locked, and never waits for them."""
    import threading

    from django.db import connections

    hook.post(event_id="evt-1")
    locked, release = threading.Event(), threading.Event()

    def other_dispatcher():
        try:
            with transaction.atomic():
                list(WebhookEvent.objects.select_for_update().filter(status=Status.RECEIVED).values_list("pk"))
                locked.set()
                release.wait(10)
        finally:
            connections.close_all()

    thread = threading.Thread(target=other_dispatcher)
    thread.start()
    try:
        assert locked.wait(10)
        started = time.monotonic()
        assert dispatch.dispatch_received() == 0
        assert time.monotonic() - started < 2
    finally:
        release.set()
        thread.join(10)
    assert dispatch.dispatch_received() == 1


@pytest.mark.django_db(transaction=True)
def test_the_dispatcher_survives_errors_and_waits_longer_after_each_one(hook, redis_connection, monkeypatch):
    """The database or Redis away: the dispatcher tries again after 0.5 s, then 1 s… (at most 5 s), and carries
    on once they answer; an error nobody expected does not end it either."""
    from django.db import OperationalError

    calls = []
    failures = [OperationalError("la base ne répond pas"), RuntimeError("imprévu")]
    real_dispatch_all = dispatch.dispatch_all

    def flaky():
        calls.append(time.monotonic())
        if failures:
            raise failures.pop(0)
        return real_dispatch_all()

    monkeypatch.setattr(dispatch, "dispatch_all", flaky)
    hook.post(event_id="evt-1")
    dispatcher = dispatch.Dispatcher()
    dispatcher.start()
    try:
        assert wait_for(lambda: WebhookEvent.objects.get().status == Status.QUEUED, seconds=10)
    finally:
        dispatcher.stop()
        dispatcher.join(10)
    pauses = [later - earlier for earlier, later in zip(calls, calls[1:3])]
    assert 0.4 < pauses[0] < 0.8 and 0.9 < pauses[1] < 1.4, pauses


def test_a_worker_that_exits_without_stopping_its_dispatcher_is_not_held_by_it(tmp_path):
    """A worker that crashes never reaches its teardown: its process must still end, so that the process
    manager starts a new one."""
    import os
    import subprocess
    import sys

    from django.conf import settings

    dispatch.Dispatcher()  # mutmut sees only what this process runs: this tells it the test reaches the dispatcher
    script = ("import django; django.setup(); from apps.core.webhooks import dispatch; "
              "dispatch.Dispatcher().start(); raise SystemExit(3)")
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="config.settings", DEBUG="1",
               DATABASE_URL=f"sqlite:///{tmp_path / 'nothing.sqlite3'}", REDIS_URL=settings.REDIS_URL)
    finished = subprocess.run([sys.executable, "-c", script], cwd=settings.BASE_DIR, env=env, timeout=30,
                              capture_output=True)
    assert finished.returncode == 3, finished.stderr[-2000:]
