"""The batch lane at its edges: the heartbeat that keeps a long batch's worker and jobs alive, a job of another
kind found in the lane, a job over its timeout, jobs given back on a stop, and a batch whose time is up."""

import time

import django_rq
import pytest
from rq.job import Job, JobStatus
from rq.registry import FailedJobRegistry, FinishedJobRegistry
from rq.utils import utcparse

from apps.core import providers
from apps.core.models import WebhookEvent
from apps.core.webhooks import batch
from apps.core.webhooks.processing import job_id_for
from tests.core.test_webhook_batch import console_worker, deliver, effects_of
from tests.core.webhook_doubles import HANDLED_TYPE, Base64BodyScheme, record_effect, registered_hook

Status = WebhookEvent.Status


class Watcher:
    """A handler that, while its batch runs, beats as the heartbeat thread would and notes what was beaten."""

    worker = None

    def __init__(self):
        self.seen = []

    def __call__(self, event):
        record_effect(event)
        pending = [job.id for job in self.worker.batch.pending]
        before = time.time()
        beaten = self.worker.batch.beat(self.worker)
        self.seen.append((event.pk, pending, beaten, before))


def failing(event):
    record_effect(event)
    raise RuntimeError("le système distant a répondu n'importe quoi")


def slow(event):
    record_effect(event)
    time.sleep(3)


@pytest.fixture
def watcher():
    return Watcher()


@pytest.fixture
def hook(redis_connection, watcher):
    hook = registered_hook(Base64BodyScheme, handlers={HANDLED_TYPE: record_effect, "watch": watcher, "slow": slow,
                                                                   "fail": failing})
    yield hook
    providers.unregister(hook.scheme.provider_key)


def webhooks_queue():
    return django_rq.get_queue("webhooks")


@pytest.mark.django_db(transaction=True)
def test_while_a_batch_runs_the_heartbeat_keeps_the_worker_and_each_job_not_yet_run_alive(hook, watcher):
    first = deliver(hook, 1)  # run by RQ's own loop
    watched = deliver(hook, 2, event_type="watch")  # the batch
    worker = watcher.worker = console_worker()
    connection = webhooks_queue().connection
    worker.work(burst=True)

    (one, pending_one, beaten_one, before_one), (two, pending_two, beaten_two, _) = watcher.seen
    assert (one, two) == tuple(watched)
    # Each job is beaten until it has run; none once run (its hash is deleted at the batch's end).
    assert pending_one == [job_id_for(watched[0]), job_id_for(watched[1])] and beaten_one
    assert pending_two == [job_id_for(watched[1])] and beaten_two
    assert worker.batch.beat(worker) is False  # no batch runs: nothing to beat
    assert not any(Job.exists(job_id_for(event_id), connection=connection) for event_id in watched)
    assert {WebhookEvent.objects.get(pk=pk).status for pk in first + watched} == {Status.PROCESSED}


@pytest.mark.django_db(transaction=True)
def test_a_beat_marks_the_pending_jobs_and_keeps_the_worker_listed(hook, watcher):
    deliver(hook, 1)
    deliver(hook, 2)
    worker = console_worker()
    worker.register_birth()
    queue = webhooks_queue()
    jobs = [Job.fetch(job_id, connection=queue.connection) for job_id in queue.get_job_ids()]
    worker.batch.set(jobs)
    before = time.time()
    assert worker.batch.beat(worker) is True
    for job_id in queue.get_job_ids():
        stamp = queue.connection.hget(Job.key_for(job_id), "last_heartbeat").decode()
        assert utcparse(stamp).timestamp() >= before - 1
    ttl = queue.connection.ttl(worker.key)
    assert 0 < ttl <= worker.job_monitoring_interval + 60  # a worker that stops beating leaves the list soon
    worker.batch.done(jobs[0])
    assert [job.id for job in worker.batch.pending] == [job.id for job in jobs[1:]]


@pytest.mark.django_db(transaction=True)
def test_a_job_of_another_kind_in_the_webhooks_lane_fails_where_an_admin_sees_it(hook):
    deliver(hook, 1)  # the batch starts behind this one
    queue = webhooks_queue()
    stray = queue.enqueue("builtins.len", "abc", job_id=job_id_for(999999))
    after = deliver(hook, 1)
    console_worker().work(burst=True)

    failed = FailedJobRegistry(queue=queue)
    assert failed.get_job_ids() == [stray.id]
    stray = Job.fetch(stray.id, connection=queue.connection)
    assert stray.get_status() == JobStatus.FAILED and stray.ended_at is not None
    assert "Tâche inattendue dans le lot : builtins.len" in stray.latest_result().exc_string
    assert WebhookEvent.objects.get(pk=after[0]).status == Status.PROCESSED  # the lane goes on


@pytest.mark.django_db(transaction=True)
def test_a_batched_job_over_its_timeout_is_stopped_and_the_next_ones_run(hook):
    deliver(hook, 1)
    slow_one = deliver(hook, 1, event_type="slow")[0]
    after = deliver(hook, 1)
    queue = webhooks_queue()
    queue.connection.hset(Job.key_for(job_id_for(slow_one)), "timeout", 1)
    started = time.monotonic()
    console_worker().work(burst=True)
    assert time.monotonic() - started < 3  # cut at its timeout, not after its 3 s

    stopped = WebhookEvent.objects.get(pk=slow_one)
    assert stopped.status == Status.FAILED and "JobTimeoutException" in stopped.traceback
    assert effects_of(slow_one) == 0  # its writes rolled back
    assert WebhookEvent.objects.get(pk=after[0]).status == Status.PROCESSED


@pytest.mark.django_db(transaction=True)
def test_jobs_given_back_on_a_stop_are_queued_again_in_their_hashes_too(hook):
    from tests.core.test_webhook_batch import stops_the_worker

    providers.get(hook.scheme.provider_key).webhook_handlers["stop"] = stops_the_worker
    deliver(hook, 1)
    deliver(hook, 1, event_type="stop")
    left = deliver(hook, 2)
    worker = stops_the_worker.worker = console_worker()
    worker.work(burst=True)
    connection = webhooks_queue().connection
    assert [Job.fetch(job_id_for(pk), connection=connection).get_status() for pk in left] == [JobStatus.QUEUED] * 2


@pytest.mark.django_db(transaction=True)
def test_once_a_batch_s_time_is_up_the_jobs_go_through_rq_s_own_loop(hook, monkeypatch):
    monkeypatch.setattr(batch, "MAX_BATCH_SECONDS", 0)
    event_ids = deliver(hook, 3)
    console_worker().work(burst=True)
    assert FinishedJobRegistry(queue=webhooks_queue()).count == 3  # each with RQ's bookkeeping
    assert {WebhookEvent.objects.get(pk=pk).status for pk in event_ids} == {Status.PROCESSED}


@pytest.mark.django_db(transaction=True)
def test_a_batched_job_failing_its_last_attempt_keeps_its_traceback_where_an_admin_sees_it(hook):
    deliver(hook, 1)
    last = deliver(hook, 1, event_type="fail")[0]
    queue = webhooks_queue()
    queue.connection.hset(Job.key_for(job_id_for(last)), "retries_left", 0)
    console_worker().work(burst=True)

    assert FailedJobRegistry(queue=queue).get_job_ids() == [job_id_for(last)]
    result = Job.fetch(job_id_for(last), connection=queue.connection).latest_result()
    assert "le système distant a répondu n'importe quoi" in result.exc_string
    assert result.execution_ended_at is not None  # when it ended, shown with the failure
    assert WebhookEvent.objects.get(pk=last).status == Status.FAILED
