"""Two deliveries of one event racing on PostgreSQL: exactly one is processed, one effect."""

import threading
import time

import pytest
from django.db import connection as db_connection

from apps.core import providers
from apps.core.models import TimelineEntry, WebhookEvent
from apps.core.webhooks.processing import process_event
from tests.core.webhook_doubles import Base64BodyScheme, payload, registered_hook
from tests.workers import run_jobs

Status = WebhookEvent.Status


@pytest.fixture
def hook(redis_connection):
    hook = registered_hook(Base64BodyScheme)
    yield hook
    providers.unregister(hook.scheme.provider_key)


def in_parallel(*callables):
    barrier = threading.Barrier(len(callables))
    results, errors = [None] * len(callables), []

    def run(index, func):
        try:
            barrier.wait(timeout=10)
            results[index] = func()
        except Exception as exc:  # surfaced by the assertion below
            errors.append(exc)
        finally:
            db_connection.close()

    threads = [threading.Thread(target=run, args=(i, f)) for i, f in enumerate(callables)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors, errors
    return results


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_deliveries_of_one_event_give_one_processed_row_and_one_effect(hook):
    body = payload(event_id="evt-race")
    responses = in_parallel(lambda: hook.post(body), lambda: hook.post(body))
    assert sorted(r.status_code for r in responses) == [200, 200]
    assert sorted(r.json()["status"] for r in responses) == [Status.DUPLICATE, Status.RECEIVED]

    run_jobs("webhooks")

    rows = list(WebhookEvent.objects.order_by("id").values_list("status", flat=True))
    assert sorted(rows) == [Status.DUPLICATE, Status.PROCESSED]
    assert TimelineEntry.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_jobs_for_one_event_running_at_once_have_one_effect(hook):
    # The sweeper and a replay can both enqueue an event: the row lock lets one job do the work.
    assert hook.post().status_code == 200
    event = WebhookEvent.objects.get()
    outcomes = in_parallel(lambda: process_event(event.pk), lambda: process_event(event.pk))
    assert sorted(outcomes) == sorted([Status.PROCESSED, "skipped"])
    assert TimelineEntry.objects.count() == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(db_connection.vendor != "postgresql", reason="row locks: PostgreSQL only (SQLite has none)")
def test_a_handler_that_hangs_does_not_hold_new_deliveries_to_its_connection(redis_connection):
    """Processing locks the event's row only: a delivery to the same connection is stored while its handler runs
    (locking the connection row too made every new insert wait on the foreign key for the whole handler)."""
    started, release = threading.Event(), threading.Event()

    def hanging(event):
        started.set()
        release.wait(timeout=20)

    hook = registered_hook(Base64BodyScheme, handlers={"slow": hanging})
    try:
        first = hook.post(payload(event_type="slow"))
        worker = threading.Thread(target=lambda: (process_event(first.json()["id"]), db_connection.close()))
        worker.start()
        assert started.wait(timeout=10)
        began = time.monotonic()
        response = hook.post(payload(event_type="other"))
        elapsed = time.monotonic() - began
        release.set()
        worker.join(timeout=30)
        assert response.status_code == 200
        assert elapsed < 2, f"livraison bloquée {elapsed:.1f} s derrière le gestionnaire"
    finally:
        release.set()
        providers.unregister(hook.scheme.provider_key)
