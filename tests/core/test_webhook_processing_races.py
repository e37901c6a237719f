"""Processing under the races that happen in production: two jobs for one event (sweeper + replay, a retry
after a crash), a job overtaken between its claim and its lock, a replay that rolls back; and the edges of
what is recorded (retries, the 500-character error).

The row-lock test needs PostgreSQL: SQLite has no row locks (SELECT ... FOR UPDATE is a no-op there), so the
behaviour under test does not exist on it. CI runs PostgreSQL.
"""

import threading

import django_rq
import pytest
from django.db import connection as db_connection
from django.db import transaction

from apps.core import providers
from apps.core.models import TimelineEntry, WebhookEvent
from apps.core.webhooks import processing
from apps.core.webhooks.processing import HandlerFailed, mark_ignored, process_event, replay, retry_policy
from tests.core.webhook_doubles import HANDLED_TYPE, Base64BodyScheme, record_effect, registered_hook

Status = WebhookEvent.Status
postgresql_only = pytest.mark.skipif(
    db_connection.vendor != "postgresql",
    reason="needs PostgreSQL row locks (SELECT ... FOR UPDATE is a no-op on SQLite); CI runs PostgreSQL",
)


class FirstCallWaits:
    """The handler's first run signals it started, then waits (holding the event's row lock) until released."""

    def __init__(self):
        self.started, self.release, self.calls = threading.Event(), threading.Event(), 0

    def __call__(self, event):
        self.calls += 1
        record_effect(event)
        if self.calls == 1:
            self.started.set()
            self.release.wait(timeout=5)


def stored_event(hook, status=Status.QUEUED, event_id="evt-1"):
    return WebhookEvent.objects.create(connection=hook.connection, provider=hook.connection.provider,
                                       event_type=HANDLED_TYPE, provider_event_id=event_id, body=b"{}",
                                       headers={}, status=status)


def in_thread(func, results, key):
    def run():
        try:
            results[key] = func()
        except Exception as exc:  # surfaced by the test's assertions
            results[key] = exc
        finally:
            db_connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


@pytest.fixture
def slow_hook(redis_connection):
    handler = FirstCallWaits()
    hook = registered_hook(Base64BodyScheme, handlers={HANDLED_TYPE: handler})
    hook.handler = handler
    yield hook
    providers.unregister(hook.scheme.provider_key)


@pytest.fixture
def hook(redis_connection):
    hook = registered_hook(Base64BodyScheme)
    yield hook
    providers.unregister(hook.scheme.provider_key)


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_a_second_job_waits_for_the_first_to_finish_and_then_does_nothing(slow_hook):
    event = stored_event(slow_hook)
    results = {}
    first = in_thread(lambda: process_event(event.pk), results, "first")
    assert slow_hook.handler.started.wait(timeout=10)
    second = in_thread(lambda: process_event(event.pk), results, "second")
    second.join(timeout=1)
    second_finished_while_first_ran = not second.is_alive()
    slow_hook.handler.release.set()
    first.join(timeout=10)
    second.join(timeout=10)
    assert not second_finished_while_first_ran  # it waited on the row lock
    assert (results["first"], results["second"]) == (Status.PROCESSED, "skipped")
    assert TimelineEntry.objects.count() == 1 and slow_hook.handler.calls == 1


@postgresql_only  # on SQLite every transaction begins IMMEDIATE: a job is never overtaken inside one
@pytest.mark.django_db(transaction=True)
def test_a_job_overtaken_between_its_claim_and_its_lock_does_not_handle_the_event_again(hook, monkeypatch):
    event = stored_event(hook)
    overtaken, lock_attempts = threading.Event(), []
    original = WebhookEvent.objects.select_for_update

    def late_lock(*args, **kwargs):
        lock_attempts.append(threading.current_thread().name)
        if threading.current_thread().name == "late-job":
            overtaken.wait(timeout=10)  # another job processes the event meanwhile
        return original(*args, **kwargs)

    monkeypatch.setattr(WebhookEvent.objects, "select_for_update", late_lock)
    results = {}

    def late_job():
        results["late"] = process_event(event.pk)

    thread = threading.Thread(target=late_job, name="late-job")
    thread.start()
    for _ in range(1000):  # until it has claimed the event and is about to lock it
        if "late-job" in lock_attempts:
            break
        thread.join(timeout=0.01)
    assert "late-job" in lock_attempts
    assert process_event(event.pk) == Status.PROCESSED
    overtaken.set()
    thread.join(timeout=10)
    db_connection.close()
    assert results["late"] == "skipped"
    assert TimelineEntry.objects.count() == 1
    event.refresh_from_db()
    assert (event.status, event.attempts) == (Status.PROCESSED, 2)


@pytest.mark.django_db
@pytest.mark.parametrize("settled", [Status.PROCESSED, Status.IGNORED, Status.DUPLICATE, Status.REJECTED])
def test_a_settled_event_is_never_handled_again_by_a_late_job(hook, settled):
    event = stored_event(hook, status=settled)
    assert process_event(event.pk) == "skipped"
    event.refresh_from_db()
    assert (event.status, event.attempts) == (settled, 0)
    assert TimelineEntry.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize("waiting", [Status.RECEIVED, Status.QUEUED, Status.FAILED, Status.PROCESSING])
def test_a_waiting_failed_or_crashed_event_is_handled_once_and_counts_its_attempt(hook, waiting):
    event = stored_event(hook, status=waiting)
    assert process_event(event.pk) == Status.PROCESSED
    event.refresh_from_db()
    assert (event.status, event.attempts, event.last_error, event.traceback) == (Status.PROCESSED, 1, "", "")
    assert event.processed_at is not None
    assert TimelineEntry.objects.count() == 1


@pytest.mark.django_db
def test_a_job_for_a_deleted_event_does_nothing(hook):
    assert process_event(987654) == "skipped"


@pytest.mark.django_db
@pytest.mark.parametrize("length", [500, 501])
def test_a_failure_is_recorded_cut_at_500_characters(redis_connection, length):
    message = "x" * (length - len("RuntimeError: "))

    def failing(event):  # a transient failure (a ValueError would be permanent: failed at once, no retry)
        raise RuntimeError(message)

    hook = registered_hook(Base64BodyScheme, handlers={HANDLED_TYPE: failing})
    try:
        event = stored_event(hook)
        with pytest.raises(HandlerFailed) as failure:
            process_event(event.pk)
        event.refresh_from_db()
        assert event.status == Status.FAILED
        assert event.last_error == f"RuntimeError: {message}"[:500] and len(event.last_error) == 500
        assert "RuntimeError" in event.traceback
        assert str(failure.value) == f"Webhook {event.pk} : {event.last_error}"
    finally:
        providers.unregister(hook.scheme.provider_key)


# Retries -------------------------------------------------------------------------------------------------------
def test_a_failed_event_is_retried_three_times_after_30_s_2_min_and_10_min(settings):
    del settings.WEBHOOK_RETRY_INTERVALS
    policy = retry_policy()
    assert (policy.max, policy.intervals) == (3, [30, 120, 600])


def test_the_retry_schedule_follows_the_setting(settings):
    settings.WEBHOOK_RETRY_INTERVALS = (5, 10)
    policy = retry_policy()
    assert (policy.max, policy.intervals) == (2, [5, 10])


@pytest.mark.django_db
def test_an_enqueued_event_carries_its_retries_and_becomes_queued(hook, settings):
    settings.WEBHOOK_RETRY_INTERVALS = (30, 120, 600)
    event = stored_event(hook, status=Status.RECEIVED)
    assert processing.enqueue_processing(event.pk) is True
    (job,) = django_rq.get_queue("webhooks").get_jobs()
    assert (job.func, job.args, job.retries_left, job.retry_intervals) == (process_event, (event.pk,), 3,
                                                                           [30, 120, 600])
    event.refresh_from_db()
    assert event.status == Status.QUEUED


@pytest.mark.django_db
def test_enqueueing_never_moves_an_event_a_worker_already_took(hook):
    event = stored_event(hook, status=Status.PROCESSED)
    assert processing.enqueue_processing(event.pk) is True
    event.refresh_from_db()
    assert event.status == Status.PROCESSED


@pytest.mark.django_db
def test_enqueueing_with_redis_down_says_so_and_leaves_the_event_received(hook, monkeypatch):
    from apps.core import jobs

    monkeypatch.setattr(jobs, "enqueue_now", lambda *args, **kwargs: None)
    event = stored_event(hook, status=Status.RECEIVED)
    assert processing.enqueue_processing(event.pk) is False
    event.refresh_from_db()
    assert event.status == Status.RECEIVED


# Replay --------------------------------------------------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_a_replay_that_rolls_back_enqueues_nothing_and_changes_nothing(hook):
    event = stored_event(hook, status=Status.FAILED)
    WebhookEvent.objects.filter(pk=event.pk).update(last_error="RuntimeError: boom")
    with pytest.raises(RuntimeError), transaction.atomic():
        assert replay(WebhookEvent.objects.all()) == 1
        raise RuntimeError("the admin action failed after the replay")
    assert django_rq.get_queue("webhooks").count == 0
    event.refresh_from_db()
    assert (event.status, event.last_error) == (Status.FAILED, "RuntimeError: boom")
    with transaction.atomic():
        assert replay(WebhookEvent.objects.all()) == 1
        assert django_rq.get_queue("webhooks").count == 0  # not before the commit
    assert django_rq.get_queue("webhooks").count == 1
    event.refresh_from_db()
    assert (event.status, event.last_error) == (Status.QUEUED, "")


@pytest.mark.django_db
def test_replay_takes_every_replayable_event_and_only_those(hook, django_capture_on_commit_callbacks):
    statuses = [Status.RECEIVED, Status.QUEUED, Status.FAILED, Status.PROCESSED, Status.IGNORED,
                Status.DUPLICATE, Status.REJECTED, Status.PROCESSING]
    for index, status in enumerate(statuses):
        stored_event(hook, status=status, event_id=f"evt-{index}" if status != Status.DUPLICATE else "")
    with django_capture_on_commit_callbacks(execute=True):
        assert replay(WebhookEvent.objects.all()) == 5
    assert django_rq.get_queue("webhooks").count == 5
    assert sorted(WebhookEvent.objects.values_list("status", flat=True)) == sorted(
        [Status.QUEUED] * 5 + [Status.DUPLICATE, Status.REJECTED, Status.PROCESSING])
    assert replay(WebhookEvent.objects.filter(status=Status.REJECTED)) == 0


@pytest.mark.django_db
def test_giving_up_marks_only_waiting_and_failed_events_ignored(hook):
    statuses = [Status.RECEIVED, Status.QUEUED, Status.FAILED, Status.PROCESSED, Status.PROCESSING]
    for index, status in enumerate(statuses):
        stored_event(hook, status=status, event_id=f"evt-{index}")
    assert mark_ignored(WebhookEvent.objects.all()) == 3
    assert sorted(WebhookEvent.objects.values_list("status", flat=True)) == sorted(
        [Status.IGNORED] * 3 + [Status.PROCESSED, Status.PROCESSING])


@pytest.mark.django_db
def test_enqueueing_one_event_leaves_the_others_as_they_are(hook):
    event = stored_event(hook, status=Status.RECEIVED, event_id="evt-a")
    other = stored_event(hook, status=Status.RECEIVED, event_id="evt-b")
    assert processing.enqueue_processing(event.pk) is True
    event.refresh_from_db()
    other.refresh_from_db()
    assert (event.status, other.status) == (Status.QUEUED, Status.RECEIVED)


@pytest.mark.django_db
def test_while_its_handler_runs_an_event_shows_as_processing(redis_connection):
    seen = []

    def handler(event):
        seen.append(WebhookEvent.objects.values_list("status", flat=True).get(pk=event.pk))

    hook = registered_hook(Base64BodyScheme, handlers={HANDLED_TYPE: handler})
    try:
        event = stored_event(hook)
        assert process_event(event.pk) == Status.PROCESSED
        assert seen == [Status.PROCESSING]
    finally:
        providers.unregister(hook.scheme.provider_key)


@pytest.mark.django_db
def test_a_replay_queues_a_job_for_each_replayed_event(hook, django_capture_on_commit_callbacks):
    events = [stored_event(hook, status=Status.FAILED, event_id=f"evt-{n}") for n in range(3)]
    with django_capture_on_commit_callbacks(execute=True):
        replay(WebhookEvent.objects.all())
    jobs = django_rq.get_queue("webhooks").get_jobs()
    assert sorted(job.args for job in jobs) == sorted((event.pk,) for event in events)
    assert {job.func for job in jobs} == {process_event}


@pytest.mark.django_db
def test_an_event_nobody_handles_any_more_is_ignored_and_says_why(redis_connection):
    hook = registered_hook(Base64BodyScheme, handlers={})
    try:
        event = stored_event(hook)
        assert process_event(event.pk) == Status.IGNORED
        event.refresh_from_db()
        assert (event.status, event.last_error) == (Status.IGNORED, "Aucun gestionnaire pour ce type d'événement.")
    finally:
        providers.unregister(hook.scheme.provider_key)


@pytest.mark.django_db
def test_the_live_feed_hears_of_each_processed_event(hook, django_capture_on_commit_callbacks):
    from apps.core import signals

    heard = []

    def listener(sender, event, **kwargs):
        heard.append((event.pk, event.status))

    signals.webhook_event_processed.connect(listener, sender=WebhookEvent)  # as apps/core/live_feed.py listens
    try:
        event = stored_event(hook)
        with django_capture_on_commit_callbacks(execute=True):
            process_event(event.pk)
        assert heard == [(event.pk, Status.PROCESSED)]
    finally:
        signals.webhook_event_processed.disconnect(listener, sender=WebhookEvent)
