"""The console worker's fast lane for webhook jobs: the jobs waiting at the head of the `webhooks` queue, taken
together and run one after the other without RQ's bookkeeping of each.

RQ spends about nine round trips and fifty commands on every job (dequeue, execution record, start and end
pipelines, registries, result): more than the worker's whole overhead over a handler called alone
(bench/processing.py). After a webhook job that RQ ran as usual, `apps.core.worker.ConsoleWorker` takes up to
`BATCH_SIZE` of the webhook jobs behind it in one script, runs each one's `process_event` as RQ would (same job,
same correlation id and `job` line, same timeout), and settles them together:

- taken: each job leaves the queue and is marked `started` with a heartbeat in the same script (atomic), so the
  sweeper counts it alive (apps.core.jobs.job_is_alive); the worker's heartbeat thread beats every job of the
  batch not yet run. A worker that dies mid-batch leaves them `started` with a heartbeat that ages: after
  jobs.STALE_AFTER_SECONDS the sweeper enqueues their unsettled events again, as for any job of a dead worker.
- succeeded (processed, ignored, skipped, or failed for good — `process_event` returns): the job is deleted; the
  event's row holds the outcome.
- failed (`process_event` raised, e.g. HandlerFailed after recording `failed` and the traceback): RQ's own
  failure handling — the next retry scheduled with the job's remaining intervals, or the failed registry.

Only ids of the form processing.job_id_for(…) are taken; anything else stays in the queue for RQ's own loop.
"""

from __future__ import annotations

import sys
import threading
import time

from rq.job import JobStatus
from rq.timeouts import JobTimeoutException
from rq.job_lifecycle import format_exc_info
from rq.utils import now, utcformat

from apps.core.webhooks.processing import job_id_for

QUEUE = "webhooks"
BATCH_SIZE = 20
# A batch returns to RQ's loop after this long (stop requests, suspension, maintenance, other queues).
MAX_BATCH_SECONDS = 5.0
JOB_PREFIX = job_id_for(0)[:-1]  # "webhook-event-"
FUNC_NAME = "apps.core.webhooks.processing.process_event"

# KEYS[1] the queue's list; ARGV: how many, id prefix, job key prefix, now (RQ's format), worker name.
# Takes jobs from the head while their ids have the prefix; a job whose hash is gone is dropped (RQ's dequeue
# skips those too).
TAKE_SCRIPT = """
local taken = {}
for _ = 1, tonumber(ARGV[1]) do
  local id = redis.call('LINDEX', KEYS[1], 0)
  if not id or string.sub(id, 1, #ARGV[2]) ~= ARGV[2] then break end
  redis.call('LPOP', KEYS[1])
  local key = ARGV[3] .. id
  if redis.call('EXISTS', key) == 1 then
    redis.call('HSET', key, 'status', 'started', 'started_at', ARGV[4], 'last_heartbeat', ARGV[4],
               'worker_name', ARGV[5])
    taken[#taken + 1] = id
  end
end
return taken
"""


class Batch:
    """The jobs of one batch not yet run, for the heartbeat thread."""

    def __init__(self):
        self._lock = threading.Lock()
        self.pending = []

    def set(self, jobs) -> None:
        with self._lock:
            self.pending = list(jobs)

    def done(self, job) -> None:
        with self._lock:
            self.pending = [j for j in self.pending if j is not job]

    def beat(self, worker) -> bool:
        """The worker's heartbeat and each pending job's, in one round trip; False when no batch runs. Under the
        lock: no beat lands after the batch has deleted its finished jobs (it would leave a stray hash)."""
        with self._lock:
            if not self.pending:
                return False
            with worker.connection.pipeline() as pipe:
                worker.heartbeat(worker.job_monitoring_interval + 60, pipeline=pipe)
                stamp = now()
                for job in self.pending:
                    job.heartbeat(stamp, 0, pipeline=pipe)
                pipe.execute()
            return True


def run_waiting(worker, queue) -> None:
    """Run the webhook jobs waiting at the head of `queue`, batch after batch, for at most MAX_BATCH_SECONDS.
    Redis errors propagate (the worker waits for Redis; see the module's doc)."""
    if queue.name != QUEUE:
        return
    take = worker.connection.register_script(TAKE_SCRIPT)
    deadline = time.monotonic() + MAX_BATCH_SECONDS
    while not worker._stop_requested and time.monotonic() < deadline:
        ids = [i.decode() if isinstance(i, bytes) else i for i in take(
            keys=[queue.key], args=[BATCH_SIZE, JOB_PREFIX, worker.job_class.redis_job_namespace_prefix,
                                   utcformat(now()), worker.name])]
        if not ids:
            return
        jobs = [job for job in worker.job_class.fetch_many(ids, connection=worker.connection,
                                                           serializer=worker.serializer) if job is not None]
        worker.batch.set(jobs)
        finished = []
        try:
            for index, job in enumerate(jobs):
                if worker._stop_requested:
                    _give_back(worker, queue, jobs[index:])
                    break
                if _perform(worker, queue, job):
                    finished.append(job)
                worker.batch.done(job)
        finally:
            worker.batch.set([])
            if finished:
                # The event's row holds the outcome: nothing of the job is kept.
                worker.connection.delete(*(job.key for job in finished))


def _give_back(worker, queue, jobs) -> None:
    """A stop was requested mid-batch: the jobs not run go back to the head of the queue, in their order."""
    with worker.connection.pipeline() as pipe:
        for job in jobs:
            pipe.hset(job.key, "status", JobStatus.QUEUED)
        pipe.lpush(queue.key, *(job.id for job in reversed(jobs)))
        pipe.execute()
    worker.batch.set([])


def _func_name(job) -> str | None:
    try:
        return job.func_name
    except Exception:  # a job that does not deserialize: RQ's failure path shows it
        return None


def _perform(worker, queue, job) -> bool:
    """Run one taken job as RQ's perform_job would; True when it succeeded (its job may be deleted)."""
    if _func_name(job) != FUNC_NAME:  # not one of ours after all: RQ's failure path, kept for an admin to see
        job.ended_at = now()
        worker.handle_job_failure(job=job, queue=queue, exc_string=f"Tâche inattendue dans le lot : {_func_name(job)}")
        return False
    job.started_at = job.last_heartbeat = now()
    job._status = JobStatus.STARTED
    try:
        with worker.death_penalty_class(job.timeout or queue.DEFAULT_TIMEOUT, JobTimeoutException, job_id=job.id):
            job.perform()
    except Exception:
        exc_info = sys.exc_info()
        job.ended_at = now()
        job._status = JobStatus.FAILED
        worker.handle_exception(job, *exc_info)
        worker.handle_job_failure(job=job, queue=queue, exc_string=format_exc_info(exc_info))
        return False
    finally:
        worker.release_db_connections()
    return True
