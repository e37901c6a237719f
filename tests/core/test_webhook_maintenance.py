"""The sweeper (events left behind while Redis was down) and retention (batches, time budget)."""

from datetime import timedelta

import django_rq
import pytest
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from redis.exceptions import ConnectionError as RedisConnectionError
from rq.job import Job, JobStatus

from apps.core import providers
from apps.core.models import TimelineEntry, WebhookEvent
from apps.core.webhooks.dispatch import dispatch_received
from apps.core.webhooks.maintenance import purge_old_events, sweep_stuck_events
from apps.core.webhooks.processing import job_id_for
from tests.core.webhook_doubles import Base64BodyScheme, make_connection, registered_hook
from tests.workers import run_jobs

Status = WebhookEvent.Status


@pytest.fixture
def hook(redis_connection):
    hook = registered_hook(Base64BodyScheme)
    yield hook
    providers.unregister(hook.scheme.provider_key)


@pytest.fixture
def redis_down(monkeypatch):
    def unreachable(*args, **kwargs):
        raise RedisConnectionError("Redis est arrêté")

    monkeypatch.setattr(django_rq, "get_queue", unreachable)
    return monkeypatch


def age(event_ids, **delta):
    WebhookEvent.objects.filter(pk__in=event_ids).update(received_at=timezone.now() - timedelta(**delta))


@pytest.mark.django_db(transaction=True)
def test_sweeper_enqueues_events_received_while_redis_was_down(hook, redis_down):
    assert hook.post().status_code == 200
    event = WebhookEvent.objects.get()
    assert event.status == Status.RECEIVED

    assert sweep_stuck_events() == 0  # too recent, and Redis still down
    age([event.pk], minutes=10)
    assert sweep_stuck_events() == 0  # Redis still down: nothing lost, nothing marked
    assert WebhookEvent.objects.get().status == Status.RECEIVED

    redis_down.undo()
    assert sweep_stuck_events() == 1
    assert WebhookEvent.objects.get().status == Status.QUEUED
    run_jobs("webhooks")
    assert WebhookEvent.objects.get().status == Status.PROCESSED
    assert TimelineEntry.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_sweeper_picks_up_an_event_whose_worker_died_mid_processing(hook):
    hook.post()
    event = WebhookEvent.objects.get()
    assert dispatch_received() == 1
    # A worker took the job, claimed the event, then died: its job stays `started`, its heartbeat stops.
    queue = django_rq.get_queue("webhooks")
    job = Job.fetch(job_id_for(event.pk), connection=queue.connection)
    queue.remove(job.id)
    job.set_status(JobStatus.STARTED)
    job.heartbeat(timezone.now() - timedelta(minutes=1), 60)
    WebhookEvent.objects.filter(pk=event.pk).update(status=Status.PROCESSING, attempts=1)
    age([event.pk], minutes=10)
    assert sweep_stuck_events() == 1
    run_jobs("webhooks")
    event.refresh_from_db()
    assert (event.status, event.attempts, TimelineEntry.objects.count()) == (Status.PROCESSED, 2, 1)


@pytest.mark.django_db
def test_sweeper_leaves_settled_and_failed_events_alone(hook):
    hook.post()
    event = WebhookEvent.objects.get()
    for status in (Status.PROCESSED, Status.FAILED, Status.IGNORED, Status.DUPLICATE, Status.REJECTED):
        WebhookEvent.objects.filter(pk=event.pk).update(status=status)
        age([event.pk], hours=2)
        assert sweep_stuck_events() == 0, status


def make_events(connection, status, count, *, days_old):
    events = WebhookEvent.objects.bulk_create(
        WebhookEvent(connection=connection, provider=connection.provider, status=status, body=b"{}")
        for _ in range(count)
    )
    age([e.pk for e in events], days=days_old)
    return events


@pytest.mark.django_db
def test_retention_deletes_old_settled_events_in_batches_and_keeps_failed_ones_longer(settings):
    settings.WEBHOOK_RETENTION_DAYS = 30
    settings.WEBHOOK_FAILED_RETENTION_DAYS = 180
    connection = make_connection("double-b64", ["s"])
    old_processed = make_events(connection, Status.PROCESSED, 5, days_old=31)
    make_events(connection, Status.REJECTED, 1, days_old=31)
    recent = make_events(connection, Status.PROCESSED, 2, days_old=29)
    failed_kept = make_events(connection, Status.FAILED, 2, days_old=31)
    make_events(connection, Status.FAILED, 3, days_old=181)
    waiting = make_events(connection, Status.RECEIVED, 1, days_old=400)
    duplicate = WebhookEvent.objects.create(connection=connection, provider=connection.provider,
                                            status=Status.DUPLICATE, body=b"{}", duplicate_of=recent[0])
    # A recent duplicate pointing at an old original: the link is cleared, the duplicate kept.
    WebhookEvent.objects.filter(pk=duplicate.pk).update(duplicate_of=old_processed[0])

    with CaptureQueriesContext(db_connection) as queries:
        result = purge_old_events(batch_size=2)

    assert result == {"deleted": 6, "failed_deleted": 3, "complete": 1}
    deletes = [q["sql"] for q in queries.captured_queries
               if q["sql"].startswith('DELETE FROM "core_webhookevent"')]
    assert len(deletes) == 3 + 2  # ceil(6 / 2) then ceil(3 / 2)
    remaining = set(WebhookEvent.objects.values_list("pk", flat=True))
    assert remaining == {e.pk for e in recent + failed_kept + waiting} | {duplicate.pk}
    assert WebhookEvent.objects.get(pk=duplicate.pk).duplicate_of is None


@pytest.mark.django_db
def test_retention_stops_at_its_time_budget_and_says_so(settings):
    connection = make_connection("double-b64", ["s"])
    make_events(connection, Status.PROCESSED, 3, days_old=settings.WEBHOOK_RETENTION_DAYS + 1)
    assert purge_old_events(time_budget_seconds=0) == {"deleted": 0, "failed_deleted": 0, "complete": 0}
    assert WebhookEvent.objects.count() == 3
