"""The console's RQ worker (`rqworker` uses it through settings.RQ["WORKER_CLASS"]; the Procfile and
`make run` name it): jobs run in the worker's own process, it survives a Redis outage, and it says often that
it is alive.

- No fork per job. RQ's default worker forks a work-horse for every job, which then rebuilds what Django
  builds lazily (URL resolvers, template engines, database connection, SQL compilers…): about a quarter of a
  second per webhook, minutes for a backlog. Here a job runs in the worker's process, like a request in a web
  process: database connections are closed around each job as Django does around a request, and a job past
  its timeout is stopped by RQ's SIGALRM (JobTimeoutException raised in the job). A crash takes the worker
  down with its job; the process manager (`make run`, systemd…) starts it again and the sweepers re-enqueue
  the job's row.
- Survives Redis: RQ's own worker quits on the first Redis error outside its dequeue ("found an unhandled
  exception, quitting"). This one waits for Redis with backoff (at most REDIS_WAIT_MAX_SECONDS between tries)
  wherever the work loop talks to it — start-up, suspension check, maintenance, dequeue, job, heartbeat,
  teardown — registers again if Redis came back empty (a restart without persistence), and carries on.
- Heartbeats: a running job every JOB_HEARTBEAT_SECONDS (from a thread, the job holding the main one), the
  worker itself at least every WORKER_TTL_SECONDS / 2, so apps.core.jobs tells a job whose worker died from
  one that runs (jobs.STALE_AFTER_SECONDS).
- RQ's maintenance (registries of abandoned jobs, restart of its scheduler process for delayed retries) every
  MAINTENANCE_SECONDS rather than every 10 minutes.

A job cut off by an outage is not re-run here: its row (webhook event, action run) is still unsettled, and the
sweepers re-enqueue it once Redis is back (apps.core.webhooks.maintenance, apps.core.actions).
"""

from __future__ import annotations

import threading
import time

from django.db import close_old_connections
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rq.worker import SimpleWorker, WorkerStatus

REDIS_ERRORS = (RedisConnectionError, RedisTimeoutError)
REDIS_WAIT_MAX_SECONDS = 2.0
JOB_HEARTBEAT_SECONDS = 5
WORKER_TTL_SECONDS = 30  # idle heartbeats every WORKER_TTL_SECONDS - 15 s (RQ's dequeue timeout)
MAINTENANCE_SECONDS = 15


class ConsoleWorker(SimpleWorker):
    def __init__(self, *args, **kwargs):
        # `rqworker` always passes --worker-ttl (420 by default): liveness must be judged within seconds.
        kwargs["worker_ttl"] = min(kwargs.get("worker_ttl") or WORKER_TTL_SECONDS, WORKER_TTL_SECONDS)
        kwargs.setdefault("job_monitoring_interval", JOB_HEARTBEAT_SECONDS)
        kwargs.setdefault("maintenance_interval", MAINTENANCE_SECONDS)
        super().__init__(*args, **kwargs)

    def _set_ip_address(self, connection) -> None:
        # Called while constructing, before work(): a worker started before Redis must wait, not exit.
        try:
            super()._set_ip_address(connection)
        except REDIS_ERRORS:
            self.ip_address = "unknown"

    # Running a job ----------------------------------------------------------------------------------
    def execute_job(self, job, queue):
        close_old_connections()
        heartbeat = None
        try:
            execution = self.prepare_execution(job)
            heartbeat = JobHeartbeat(self, job, execution)
            heartbeat.start()
            self.perform_job(job, queue, execution)
            self.set_state(WorkerStatus.IDLE)
        except REDIS_ERRORS as exc:
            # Redis went away around the job: its row is re-enqueued by the sweepers if it did not settle.
            self.executions.clear()
            self.wait_for_redis(exc)
        finally:
            if heartbeat is not None:
                heartbeat.stop()
            close_old_connections()

    # Waiting for Redis ------------------------------------------------------------------------------
    def wait_for_redis(self, error: Exception | None = None) -> None:
        """Block until Redis answers (or a stop is requested), then make sure this worker is registered."""
        if error is not None:
            self.log.warning("Worker %s: Redis indisponible (%s) ; attente de son retour…", self.name, error)
        delay = 0.5
        while not self._stop_requested:
            try:
                self.connection.ping()
                # Registered means listed in RQ's worker set: a heartbeat may already have recreated the hash.
                if not self.connection.sismember(self.redis_workers_keys, self.key):
                    self.connection.delete(self.key)
                    self.register_birth()
                    self.set_state(WorkerStatus.IDLE)
                    self.log.info("Worker %s: Redis de retour, worker enregistré de nouveau.", self.name)
                return
            except REDIS_ERRORS:
                time.sleep(delay)
                delay = min(delay * 2, REDIS_WAIT_MAX_SECONDS)

    def bootstrap(self, *args, **kwargs):
        while True:
            try:
                return super().bootstrap(*args, **kwargs)
            except REDIS_ERRORS as exc:
                self.wait_for_redis(exc)
                if self._stop_requested:
                    raise

    # The work loop's other Redis calls ------------------------------------------------------------
    def check_for_suspension(self, burst: bool):
        try:
            super().check_for_suspension(burst)
        except REDIS_ERRORS as exc:
            self.wait_for_redis(exc)

    def run_maintenance_tasks(self):
        try:
            super().run_maintenance_tasks()
        except REDIS_ERRORS as exc:
            self.wait_for_redis(exc)

    def dequeue_job_and_maintain_ttl(self, timeout, max_idle_time=None):
        while True:
            try:
                return super().dequeue_job_and_maintain_ttl(timeout, max_idle_time)
            except REDIS_ERRORS as exc:
                self.wait_for_redis(exc)
                if self._stop_requested:
                    return None

    def heartbeat(self, timeout=None, pipeline=None):
        if pipeline is not None:
            return super().heartbeat(timeout, pipeline)
        try:
            return super().heartbeat(timeout)
        except REDIS_ERRORS as exc:
            self.wait_for_redis(exc)

    def teardown(self):
        try:
            super().teardown()
        except REDIS_ERRORS:
            pass  # going away anyway; its registration expires on its own


class JobHeartbeat(threading.Thread):
    """While a job holds the worker's main thread: the worker's, the execution's and the job's heartbeat every
    JOB_HEARTBEAT_SECONDS (RQ's forking worker does this from the parent while the work-horse runs)."""

    def __init__(self, worker: ConsoleWorker, job, execution):
        super().__init__(name=f"rq-heartbeat-{job.id}", daemon=True)
        self.worker, self.job, self.execution = worker, job, execution
        self._stopped = threading.Event()

    def run(self):
        while not self._stopped.wait(self.worker.job_monitoring_interval):
            try:
                self.worker.maintain_heartbeats(self.job, self.execution)
            except RedisError:
                pass  # the main loop notices Redis is gone and waits for it

    def stop(self):
        self._stopped.set()
        self.join(timeout=self.worker.job_monitoring_interval * 2)
