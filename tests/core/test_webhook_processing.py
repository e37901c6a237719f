"""Processing: one effect per event, failures keep their traceback while partial writes roll back, replay."""

import django_rq
import pytest
from rq.registry import ScheduledJobRegistry

from apps.core import providers, signals
from apps.core.models import Connection, TimelineEntry, WebhookEvent
from apps.core.webhooks.processing import HandlerFailed, mark_ignored, process_event, replay
from tests.core.webhook_doubles import HANDLED_TYPE, Base64BodyScheme, record_effect, registered_hook
from tests.workers import run_jobs

Status = WebhookEvent.Status


class SwitchableHandler:
    """Writes first (the effect, and a rename of the connection), then fails while `failing` is set."""

    def __init__(self):
        self.failing = True

    def __call__(self, event):
        record_effect(event)
        Connection.objects.filter(pk=event.connection_id).update(name="écrit par le gestionnaire")
        if self.failing:
            raise RuntimeError("le système distant a répondu n'importe quoi")


def idempotent_effect(event):
    if not TimelineEntry.objects.filter(webhook_event=event).exists():
        record_effect(event)


@pytest.fixture
def handler():
    return SwitchableHandler()


@pytest.fixture
def hook(redis_connection, handler):
    hook = registered_hook(Base64BodyScheme, handlers={HANDLED_TYPE: handler, "idempotent": idempotent_effect})
    yield hook
    providers.unregister(hook.scheme.provider_key)


def stored_event(hook, **payload_fields):
    assert hook.post(**payload_fields).status_code == 200
    return WebhookEvent.objects.latest("id")


def effects():
    return TimelineEntry.objects.count()


def run_worker():
    run_jobs("webhooks")


@pytest.mark.django_db
def test_failure_keeps_the_traceback_and_rolls_back_partial_writes(hook):
    event = stored_event(hook)
    with pytest.raises(HandlerFailed):
        process_event(event.pk)
    event.refresh_from_db()
    assert event.status == Status.FAILED
    assert event.attempts == 1
    assert "RuntimeError: le système distant a répondu n'importe quoi" in event.last_error
    assert "Traceback (most recent call last)" in event.traceback
    assert "SwitchableHandler" in event.traceback or "__call__" in event.traceback
    assert effects() == 0
    hook.connection.refresh_from_db()
    assert hook.connection.name != "écrit par le gestionnaire"


@pytest.mark.django_db
def test_replay_after_a_fix_processes_once_and_clears_the_error(hook, handler, django_capture_on_commit_callbacks):
    event = stored_event(hook)
    with pytest.raises(HandlerFailed):
        process_event(event.pk)
    handler.failing = False
    with django_capture_on_commit_callbacks(execute=True):
        assert replay(WebhookEvent.objects.filter(pk=event.pk)) == 1
    event.refresh_from_db()
    assert event.status == Status.QUEUED
    assert process_event(event.pk) == Status.PROCESSED
    event.refresh_from_db()
    assert (event.status, event.attempts, event.traceback, event.last_error) == (Status.PROCESSED, 2, "", "")
    assert event.processed_at is not None
    assert effects() == 1
    assert process_event(event.pk) == "skipped"
    assert effects() == 1


@pytest.mark.django_db
def test_replaying_a_processed_event_with_an_idempotent_handler_has_no_second_effect(hook):
    event = stored_event(hook, event_type="idempotent")
    assert process_event(event.pk) == Status.PROCESSED
    assert replay(WebhookEvent.objects.filter(pk=event.pk)) == 1
    assert process_event(event.pk) == Status.PROCESSED
    event.refresh_from_db()
    assert (event.status, event.attempts, effects()) == (Status.PROCESSED, 2, 1)


@pytest.mark.django_db
def test_rejected_and_duplicate_events_are_never_replayed(hook):
    hook.post(secret="forged")
    body_event = stored_event(hook, event_id="evt-1")
    hook.post(event_id="evt-1")
    rejected = WebhookEvent.objects.get(status=Status.REJECTED)
    duplicate = WebhookEvent.objects.get(status=Status.DUPLICATE)
    assert replay(WebhookEvent.objects.filter(pk__in=[rejected.pk, duplicate.pk])) == 0
    for event in (rejected, duplicate):
        assert process_event(event.pk) == "skipped"
    assert effects() == 0
    assert body_event.duplicates.get() == duplicate


@pytest.mark.django_db
def test_event_whose_handler_disappeared_is_ignored(hook):
    event = stored_event(hook)
    providers.register(hook.scheme.provider(handlers={}))
    assert process_event(event.pk) == Status.IGNORED
    assert effects() == 0


@pytest.mark.django_db
def test_mark_ignored_leaves_settled_events_alone(hook, handler):
    handler.failing = False
    done = stored_event(hook)
    process_event(done.pk)
    waiting = stored_event(hook)
    assert mark_ignored(WebhookEvent.objects.all()) == 1
    assert WebhookEvent.objects.get(pk=waiting.pk).status == Status.IGNORED
    assert WebhookEvent.objects.get(pk=done.pk).status == Status.PROCESSED


@pytest.mark.django_db
def test_processed_signal_is_sent_after_commit(hook, handler, django_capture_on_commit_callbacks):
    handler.failing = False
    event = stored_event(hook)
    received = []
    signals.webhook_event_processed.connect(lambda sender, event, **kw: received.append(event.status), weak=False,
                                            dispatch_uid="test-processed")
    try:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            process_event(event.pk)
        assert received == []
        for callback in callbacks:
            callback()
        assert received == [Status.PROCESSED]
    finally:
        signals.webhook_event_processed.disconnect(dispatch_uid="test-processed")


@pytest.mark.django_db(transaction=True)
def test_real_worker_processes_what_the_inbox_enqueued(hook, handler):
    handler.failing = False
    response = hook.post()
    assert response.json()["status"] == Status.RECEIVED
    run_worker()
    event = WebhookEvent.objects.get()
    assert (event.status, event.attempts, effects()) == (Status.PROCESSED, 1, 1)


@pytest.mark.django_db(transaction=True)
def test_real_worker_failure_is_recorded_and_a_retry_is_scheduled(hook):
    hook.post()
    run_worker()
    event = WebhookEvent.objects.get()
    assert (event.status, effects()) == (Status.FAILED, 0)
    assert "RuntimeError" in event.traceback
    scheduled = ScheduledJobRegistry(queue=django_rq.get_queue("webhooks"))
    assert len(scheduled) == 1


def refusing_database(event):
    """Writes, then meets a value the database refuses (here on SQLite and PostgreSQL alike: NaN in JSON)."""
    record_effect(event)
    TimelineEntry.objects.filter(webhook_event=event).update(external_ids={"montant": float("nan")})


@pytest.mark.django_db
def test_a_value_the_database_refuses_fails_at_once_with_a_reason_and_is_not_retried(redis_connection):
    hook = registered_hook(Base64BodyScheme, handlers={HANDLED_TYPE: refusing_database})
    try:
        event = stored_event(hook)
        assert process_event(event.pk) == Status.FAILED  # no HandlerFailed: RQ schedules no retry
        run_worker()
        event.refresh_from_db()
        assert (event.status, event.attempts) == (Status.FAILED, 1)
        assert event.last_error.startswith("Données refusées, sans nouvel essai (")
        assert effects() == 0
        assert ScheduledJobRegistry(queue=django_rq.get_queue("webhooks")).count == 0
    finally:
        providers.unregister(hook.scheme.provider_key)


@pytest.mark.django_db
def test_a_vendor_error_is_still_retried(hook, handler):
    from apps.core.http import ServerError

    def vendor_down(event):
        raise ServerError("Invoice Ninja a répondu 502", status=502)

    providers.get(hook.scheme.provider_key).webhook_handlers[HANDLED_TYPE] = vendor_down
    event = stored_event(hook)
    with pytest.raises(HandlerFailed):
        process_event(event.pk)


def missing_required_value(event):
    """Writes, then a row without a value its column requires (NOT NULL: SQLSTATE 23502, SQLite's own words)."""
    from apps.hub.models import Company

    record_effect(event)
    Company.objects.create(name=None)


def conflicting_row(event):
    """Writes, then a row that a concurrent write may already hold (UNIQUE: a retry may find it resolved)."""
    from django.contrib.auth.models import User

    record_effect(event)
    User.objects.create(username="deja-la")


@pytest.mark.django_db
def test_a_required_value_missing_fails_at_once_with_a_reason_and_is_not_retried(hook):
    providers.get(hook.scheme.provider_key).webhook_handlers[HANDLED_TYPE] = missing_required_value
    event = stored_event(hook)
    assert process_event(event.pk) == Status.FAILED  # no HandlerFailed: RQ schedules no retry
    event.refresh_from_db()
    assert event.last_error.startswith("Données refusées, sans nouvel essai (IntegrityError")
    assert effects() == 0


@pytest.mark.django_db
def test_a_unique_conflict_in_a_handler_is_retried(hook):
    from django.contrib.auth.models import User

    User.objects.create(username="deja-la")
    providers.get(hook.scheme.provider_key).webhook_handlers[HANDLED_TYPE] = conflicting_row
    event = stored_event(hook)
    with pytest.raises(HandlerFailed):
        process_event(event.pk)
    event.refresh_from_db()
    assert event.status == Status.FAILED and not event.last_error.startswith("Données refusées")
    assert effects() == 0


@pytest.mark.parametrize("refusal, permanent", [
    ("CHECK constraint failed: montant_positif", True),
    ("NOT NULL constraint failed: hub_company.name", True),
    ("UNIQUE constraint failed: auth_user.username", False),
    ("FOREIGN KEY constraint failed", False),
])
def test_sqlites_words_for_a_refusal_decide_whether_a_retry_could_help(refusal, permanent):
    from django.db import IntegrityError

    from apps.core.webhooks.processing import is_permanent

    assert is_permanent(IntegrityError(refusal)) is permanent


@pytest.mark.django_db
def test_a_replayed_event_waiting_in_the_queue_is_not_enqueued_twice_by_the_sweeper(
        hook, handler, django_capture_on_commit_callbacks):
    from datetime import timedelta

    from django.utils import timezone

    from apps.core.webhooks.maintenance import sweep_stuck_events

    event = stored_event(hook)
    run_worker()  # fails once: replayable
    queue = django_rq.get_queue("webhooks")
    queue.empty()
    retries = ScheduledJobRegistry(queue=queue)
    for job_id in retries.get_job_ids():  # its automatic retry gone too: only the replay's job is left
        retries.remove(job_id, delete_job=True)
    with django_capture_on_commit_callbacks(execute=True):
        assert replay(WebhookEvent.objects.filter(pk=event.pk)) == 1
    WebhookEvent.objects.filter(pk=event.pk).update(received_at=timezone.now() - timedelta(minutes=5))

    assert sweep_stuck_events() == 0, "the sweeper did not recognise the replay's job as the event's own"
    assert django_rq.get_queue("webhooks").count == 1
