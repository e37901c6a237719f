"""The console's RQ worker (`rqworker` uses it through settings.RQ["WORKER_CLASS"]; the Procfile and
`make run` name it): jobs run in the worker's own process, it survives a Redis outage, and it says often that
it is alive.

- No fork per job. RQ's default worker forks a work-horse for every job, which then rebuilds what Django
  builds lazily (URL resolvers, template engines, database connection, SQL compilers…): about a quarter of a
  second per webhook, minutes for a backlog. Here a job runs in the worker's own process, and a job past its
  timeout is stopped by RQ's SIGALRM (JobTimeoutException raised in the job). A crash takes the worker down
  with its job; the process manager (`make run`, systemd…) starts it again and the sweepers re-enqueue the
  job's row.
- Little per job besides the job (bench/processing.py): database connections stay open from one job to the
  next (like CONN_MAX_AGE for a web process) — closed after a job that left them in a transaction or broken,
  checked with a round trip before a job that comes after an idle pause (DB_IDLE_CHECK_SECONDS), and closed
  before RQ's maintenance (at most every MAINTENANCE_SECONDS), which may fork the scheduler process; the
  worker's own heartbeat and state are not written again when they were written less than
  HEARTBEAT_MIN_SECONDS ago or are unchanged (the job's start and end pipelines carry them); one heartbeat
  thread serves every job.
- Survives Redis: RQ's own worker quits on the first Redis error outside its dequeue ("found an unhandled
  exception, quitting"). This one waits for Redis with backoff (at most REDIS_WAIT_MAX_SECONDS between tries)
  wherever the work loop talks to it — start-up, suspension check, maintenance, dequeue, job, heartbeat,
  teardown — registers again if Redis came back empty (a restart without persistence), and carries on.
- Heartbeats: a running job every JOB_HEARTBEAT_SECONDS (from a thread, the job holding the main one), the
  worker itself at least every WORKER_TTL_SECONDS / 2, so apps.core.jobs tells a job whose worker died from
  one that runs (jobs.STALE_AFTER_SECONDS).
- RQ's maintenance (registries of abandoned jobs, restart of its scheduler process for delayed retries) every
  MAINTENANCE_SECONDS rather than every 10 minutes.

- Webhook jobs in batches: after a webhook job, the ones queued behind it run without RQ's per-job bookkeeping
  (apps.core.webhooks.batch), about half the worker's cost per event.
- Stored deliveries handed to the queue: a worker of the `webhooks` queue runs the dispatcher
  (apps.core.webhooks.dispatch) in a thread that looks for them every 0.1 s, and dispatches once more before
  each dequeue (the only way in burst mode, which starts no thread).

A job cut off by an outage is not re-run here: its row (webhook event, action run) is still unsettled, and the
sweepers re-enqueue it once Redis is back (apps.core.webhooks.maintenance, apps.core.actions).
"""

from __future__ import annotations

import threading
import time

from django.db import DatabaseError, connections
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rq.utils import now
from rq.worker import SimpleWorker, WorkerStatus

from apps.core.webhooks import batch, dispatch

REDIS_ERRORS = (RedisConnectionError, RedisTimeoutError)
REDIS_WAIT_MAX_SECONDS = 2.0
JOB_HEARTBEAT_SECONDS = 5
WORKER_TTL_SECONDS = 30  # idle heartbeats every WORKER_TTL_SECONDS - 15 s (RQ's dequeue timeout)
MAINTENANCE_SECONDS = 15
# A database connection idle longer than this between two jobs is checked (one round trip) before the next.
DB_IDLE_CHECK_SECONDS = 2.0
# The work loop asks for a heartbeat several times around each job; one in this window is enough.
HEARTBEAT_MIN_SECONDS = 1.0


class ConsoleWorker(SimpleWorker):
    def __init__(self, *args, **kwargs):
        # `rqworker` always passes --worker-ttl (420 by default): liveness must be judged within seconds.
        kwargs["worker_ttl"] = min(kwargs.get("worker_ttl") or WORKER_TTL_SECONDS, WORKER_TTL_SECONDS)
        kwargs.setdefault("job_monitoring_interval", JOB_HEARTBEAT_SECONDS)
        kwargs.setdefault("maintenance_interval", MAINTENANCE_SECONDS)
        super().__init__(*args, **kwargs)
        self.job_heartbeat = JobHeartbeat(self)
        self.batch = batch.Batch()
        self.last_job_ended = time.monotonic()
        self.dispatcher = dispatch.Dispatcher() if batch.QUEUE in self.queue_names() else None

    def _set_ip_address(self, connection) -> None:
        # Called while constructing, before work(): a worker started before Redis must wait, not exit.
        try:
            super()._set_ip_address(connection)
        except REDIS_ERRORS:
            self.ip_address = "unknown"

    # Running a job ----------------------------------------------------------------------------------
    def execute_job(self, job, queue):
        self.prepare_db_connections()
        try:
            execution = self.prepare_execution(job)
            self.job_heartbeat.watch(job, execution)
            self.perform_job(job, queue, execution)
            self.job_heartbeat.release()
            if job.func_name == batch.FUNC_NAME:
                # The webhook jobs queued behind this one, without RQ's bookkeeping of each (webhooks/batch.py).
                batch.run_waiting(self, queue)
            self.set_state(WorkerStatus.IDLE)
        except REDIS_ERRORS as exc:
            # Redis went away around the job: its row is re-enqueued by the sweepers if it did not settle.
            self.executions.clear()
            self.wait_for_redis(exc)
        finally:
            self.job_heartbeat.release()
            self.release_db_connections()
            self.last_job_ended = time.monotonic()

    def handle_execution_ended(self, job, queue, heartbeat_ttl):
        # The job's code is over: no beat of the heartbeat thread may land after the end pipeline below (it
        # would put the finished execution back in the started registry).
        self.job_heartbeat.release()
        # RQ beats the job once more to cover its success/failure callback; without one, the end pipeline
        # that follows settles the job at once.
        if job._success_callback_name or job._failure_callback_name:
            return super().handle_execution_ended(job, queue, heartbeat_ttl)
        job.ended_at = now()

    # Database connections between jobs ----------------------------------------------------------------
    def prepare_db_connections(self) -> None:
        """Before a job: a connection kept from the previous job is checked if it sat idle a while."""
        if time.monotonic() - self.last_job_ended < DB_IDLE_CHECK_SECONDS:
            return
        for connection in connections.all(initialized_only=True):
            if connection.connection is not None and not connection.is_usable():
                connection.close()

    def release_db_connections(self) -> None:
        """After a job: keep each connection unless the job left it in a transaction or broken (what Django's
        close_if_unusable_or_obsolete checks after a request, without closing a healthy one)."""
        for connection in connections.all(initialized_only=True):
            if connection.connection is None:
                continue
            if connection.get_autocommit() != connection.settings_dict["AUTOCOMMIT"]:
                connection.close()
            elif connection.errors_occurred:
                if connection.is_usable():
                    connection.errors_occurred = False
                else:
                    connection.close()

    @staticmethod
    def close_db_connections() -> None:
        for connection in connections.all(initialized_only=True):
            connection.close()

    # Fewer writes of the worker's own hash --------------------------------------------------------
    def set_state(self, state, pipeline=None):
        if pipeline is None and state == self._state:
            return
        super().set_state(state, pipeline)

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
                    super().set_state(WorkerStatus.IDLE)  # the new hash has no state yet, whatever self._state says
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
        # It may start RQ's scheduler in a forked process: no database socket shared with a child.
        self.close_db_connections()
        try:
            super().run_maintenance_tasks()
        except REDIS_ERRORS as exc:
            self.wait_for_redis(exc)

    def dequeue_job_and_maintain_ttl(self, timeout, max_idle_time=None):
        if self.dispatcher is not None:
            self.dispatch_waiting_deliveries(start_thread=timeout is not None)
        while True:
            try:
                return super().dequeue_job_and_maintain_ttl(timeout, max_idle_time)
            except REDIS_ERRORS as exc:
                self.wait_for_redis(exc)
                if self._stop_requested:
                    return None

    def dispatch_waiting_deliveries(self, *, start_thread: bool) -> None:
        try:
            dispatch.dispatch_all()
        except DatabaseError as exc:
            # The database is away: the deliveries wait in it, the dispatcher thread retries.
            self.log.warning("Worker %s: webhooks en attente non répartis (%s)", self.name, exc)
            self.close_db_connections()
        if start_thread and self.dispatcher.ident is None:
            self.dispatcher.start()

    def heartbeat(self, timeout=None, pipeline=None):
        if pipeline is not None:
            return super().heartbeat(timeout, pipeline)
        if timeout is None and self.last_heartbeat is not None and (
                (now() - self.last_heartbeat).total_seconds() < HEARTBEAT_MIN_SECONDS):
            return None
        try:
            return super().heartbeat(timeout)
        except REDIS_ERRORS as exc:
            self.wait_for_redis(exc)

    def teardown(self):
        self.job_heartbeat.stop()
        if self.dispatcher is not None:
            self.dispatcher.stop()
        try:
            super().teardown()
        except REDIS_ERRORS:
            pass  # going away anyway; its registration expires on its own


class JobHeartbeat(threading.Thread):
    """While a job holds the worker's main thread: the worker's, the execution's and the job's heartbeat every
    JOB_HEARTBEAT_SECONDS (RQ's forking worker does this from the parent while the work-horse runs). One thread
    for the worker's life, started with its first job; it beats whichever job is being run."""

    def __init__(self, worker: ConsoleWorker):
        super().__init__(name=f"rq-heartbeat-{worker.name}", daemon=True)
        self.worker = worker
        self._lock = threading.Lock()
        self._current = None  # (job, execution)
        self._stopped = threading.Event()

    def watch(self, job, execution) -> None:
        with self._lock:
            self._current = (job, execution)
        if self.ident is None:
            self.start()

    def release(self) -> None:
        """The job is over: a beat in flight finishes first, none starts after."""
        with self._lock:
            self._current = None

    def stop(self) -> None:
        self.release()
        self._stopped.set()

    def run(self):
        while not self._stopped.wait(self.worker.job_monitoring_interval):
            with self._lock:
                if self._current is None:
                    try:
                        self.worker.batch.beat(self.worker)
                    except RedisError:
                        pass
                    continue
                job, execution = self._current
                try:
                    self.worker.maintain_heartbeats(job, execution)
                except RedisError:
                    pass  # the main loop notices Redis is gone and waits for it
                except Exception:
                    self.worker.log.exception("Worker %s: battement de la tâche %s non écrit", self.worker.name,
                                              job.id)
