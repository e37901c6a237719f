"""The console worker runs the webhook jobs queued behind one another as a batch: each event's outcome is the one
RQ's own loop gives (processed once, a failure rolled back and retried, a refused value not retried), and a
worker dying mid-batch loses nothing."""

from datetime import timedelta

import django_rq
import pytest
from django.utils import timezone
from rq.job import Job
from rq.registry import FinishedJobRegistry, ScheduledJobRegistry
from rq.utils import utcformat

from apps.core import providers
from apps.core.models import Connection, TimelineEntry, WebhookEvent
from apps.core.webhooks import batch
from apps.core.webhooks.dispatch import dispatch_received
from apps.core.webhooks.maintenance import sweep_stuck_events
from apps.core.webhooks.processing import job_id_for
from apps.core.worker import ConsoleWorker
from tests.core.webhook_doubles import HANDLED_TYPE, Base64BodyScheme, record_effect, registered_hook

Status = WebhookEvent.Status


def handler(event):
    """Writes its effect, then fails as the payload asks: a vendor that answers nonsense, or a refused value."""
    record_effect(event)
    Connection.objects.filter(pk=event.connection_id).update(name="écrit par le gestionnaire")
    if b'"fail": "transient"' in bytes(event.body):
        raise RuntimeError("le système distant a répondu n'importe quoi")
    if b'"fail": "permanent"' in bytes(event.body):
        raise ValueError("montant illisible")


class StopsTheWorker:
    """Handles its event, then asks the worker to stop (as a SIGTERM does) while the batch still has jobs."""

    worker = None

    def __call__(self, event):
        record_effect(event)
        self.worker._stop_requested = True


stops_the_worker = StopsTheWorker()


@pytest.fixture
def hook(redis_connection):
    hook = registered_hook(Base64BodyScheme, handlers={HANDLED_TYPE: handler, "stop": stops_the_worker})
    yield hook
    providers.unregister(hook.scheme.provider_key)


def deliver(hook, count, **payload_fields):
    ids = []
    for _ in range(count):
        assert hook.post(**payload_fields).status_code == 200
        ids.append(WebhookEvent.objects.latest("id").pk)
    assert dispatch_received() == count  # as the worker's dispatcher does
    return ids


def effects_of(event_id):
    return TimelineEntry.objects.filter(webhook_event_id=event_id).count()


def assert_processed_once(event_ids):
    for event_id in event_ids:
        event = WebhookEvent.objects.get(pk=event_id)
        assert (event.status, effects_of(event_id)) == (Status.PROCESSED, 1)


def console_worker():
    worker = django_rq.get_worker("webhooks")
    assert isinstance(worker, ConsoleWorker)
    return worker


@pytest.mark.django_db(transaction=True)
def test_a_batch_settles_each_event_as_rqs_own_loop_would(hook):
    ok = deliver(hook, 4)
    transient = deliver(hook, 1, fail="transient")[0]
    permanent = deliver(hook, 1, fail="permanent")[0]
    ok += deliver(hook, 2)

    console_worker().work(burst=True)

    queue = django_rq.get_queue("webhooks")
    for event_id in ok:
        event = WebhookEvent.objects.get(pk=event_id)
        assert (event.status, event.attempts, effects_of(event_id)) == (Status.PROCESSED, 1, 1)
    failed = WebhookEvent.objects.get(pk=transient)
    assert (failed.status, effects_of(transient)) == (Status.FAILED, 0)  # its writes rolled back
    assert "RuntimeError" in failed.traceback
    refused = WebhookEvent.objects.get(pk=permanent)
    assert refused.status == Status.FAILED and refused.last_error.startswith("Données refusées, sans nouvel essai")
    # The transient failure waits for its retry; the refused value is not retried.
    assert ScheduledJobRegistry(queue=queue).get_job_ids() == [job_id_for(transient)]
    assert Job.fetch(job_id_for(transient), connection=queue.connection).retries_left == 2
    assert queue.count == 0
    # Only the first job went through RQ's own bookkeeping: the others ran as a batch behind it.
    assert FinishedJobRegistry(queue=queue).count <= 1
    assert not any(Job.exists(job_id_for(event_id), connection=queue.connection) for event_id in ok[1:])


@pytest.mark.django_db(transaction=True)
def test_jobs_taken_by_a_worker_that_died_mid_batch_are_enqueued_again_once_its_heartbeat_is_stale(hook):
    event_ids = deliver(hook, 3)
    queue = django_rq.get_queue("webhooks")
    # A worker takes them (the batch's own script), then dies before running any.
    taken = queue.connection.register_script(batch.TAKE_SCRIPT)(
        keys=[queue.key], args=[batch.BATCH_SIZE, batch.JOB_PREFIX, Job.redis_job_namespace_prefix,
                               utcformat(timezone.now()), "worker-mort"])
    assert len(taken) == 3 and queue.count == 0
    WebhookEvent.objects.filter(pk__in=event_ids).update(received_at=timezone.now() - timedelta(minutes=5))
    assert sweep_stuck_events() == 0  # their heartbeat is fresh: a live worker may be running them

    stale = utcformat(timezone.now() - timedelta(minutes=1))
    for event_id in event_ids:
        queue.connection.hset(Job.key_for(job_id_for(event_id)), "last_heartbeat", stale)
    assert sweep_stuck_events() == 3
    console_worker().work(burst=True)
    assert_processed_once(event_ids)


@pytest.mark.django_db(transaction=True)
def test_a_stop_requested_mid_batch_puts_the_jobs_not_run_back_at_the_head_of_the_queue(hook):
    first = deliver(hook, 1)  # run by RQ's own loop
    stopping = deliver(hook, 1, event_type="stop")  # the batch's first job
    left = deliver(hook, 3)
    worker = stops_the_worker.worker = console_worker()
    worker.work(burst=True)

    queue = django_rq.get_queue("webhooks")
    for event_id in first + stopping:
        assert WebhookEvent.objects.get(pk=event_id).status == Status.PROCESSED
    assert queue.get_job_ids() == [job_id_for(event_id) for event_id in left]
    assert {WebhookEvent.objects.get(pk=event_id).status for event_id in left} == {Status.QUEUED}

    console_worker().work(burst=True)
    assert_processed_once(left)


@pytest.mark.django_db(transaction=True)
def test_each_batched_job_logs_its_job_line_under_its_deliverys_correlation_id(hook):
    import io
    import json
    import logging

    from apps.operations import logs

    stream = io.StringIO()
    handler_ = logging.StreamHandler(stream)
    handler_.setFormatter(logs.formatter("json"))
    root = logging.getLogger()
    root.addHandler(handler_)
    previous_level, root.level = root.level, logging.INFO
    try:
        correlation_ids = [hook.post()["X-Request-ID"] for _ in range(4)]
        console_worker().work(burst=True)
    finally:
        root.removeHandler(handler_)
        root.setLevel(previous_level)
    lines = [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
    job_lines = [line for line in lines if line["event"] == "job"]
    assert [line["correlation_id"] for line in job_lines] == correlation_ids
    assert {line["status"] for line in job_lines} == {"succeeded"}
    assert FinishedJobRegistry(queue=django_rq.get_queue("webhooks")).count <= 1  # three of them in a batch
