"""The console's RQ worker (`rqworker` uses it through settings.RQ["WORKER_CLASS"]): RQ's forking worker that
survives a Redis outage and says often that it is alive.

RQ's own worker quits on the first Redis error outside its dequeue ("found an unhandled exception,
quitting"), and a killed worker leaves its job `started` for minutes. This one:

- waits for Redis with backoff (at most REDIS_WAIT_MAX_SECONDS between tries) wherever the work loop talks to
  it — start-up, suspension check, maintenance, dequeue, job execution, heartbeat, teardown — then
  registers again if Redis came back empty (a restart without persistence), and carries on;
- heartbeats a running job every JOB_HEARTBEAT_SECONDS and itself at least every WORKER_TTL_SECONDS / 2, so
  apps.core.jobs tells a job whose worker died from one that is running (see jobs.STALE_AFTER_SECONDS);
- runs RQ's maintenance (registries of abandoned jobs, restart of its scheduler process for delayed retries)
  every MAINTENANCE_SECONDS rather than every 10 minutes.

A job cut off by an outage is not re-run here: its row (webhook event, action run) is still unsettled, and the
sweepers re-enqueue it once Redis is back (apps.core.webhooks.maintenance, apps.core.actions).
"""

from __future__ import annotations

import time

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rq.worker import Worker, WorkerStatus

REDIS_ERRORS = (RedisConnectionError, RedisTimeoutError)
REDIS_WAIT_MAX_SECONDS = 5.0
JOB_HEARTBEAT_SECONDS = 5
WORKER_TTL_SECONDS = 30  # idle heartbeats every WORKER_TTL_SECONDS - 15 s (RQ's dequeue timeout)
MAINTENANCE_SECONDS = 15


class ConsoleWorker(Worker):
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

    # Waiting for Redis ---------------------------------------------------------------------------
    def wait_for_redis(self, error: Exception | None = None) -> None:
        """Block until Redis answers (or a stop is requested), then make sure this worker is registered."""
        if self.is_horse:
            raise error or RedisConnectionError("Redis indisponible")  # the work-horse fails its job instead
        if error is not None:
            self.log.warning("Worker %s: Redis indisponible (%s) ; attente de son retour…", self.name, error)
        delay = 0.5
        while not self._stop_requested:
            try:
                self.connection.ping()
                if not self.connection.exists(self.key):
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

    # The work loop's Redis calls -----------------------------------------------------------------
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

    def execute_job(self, job, queue):
        try:
            super().execute_job(job, queue)
        except REDIS_ERRORS as exc:
            # The work-horse may still be running (its monitor lost Redis): let it end on its own, it has its
            # own timeout; then forget it. Its row is re-enqueued by the sweepers if it did not settle.
            if self.horse_pid:
                self.wait_for_horse()
                self._horse_pid = 0
            self.executions.clear()
            self.wait_for_redis(exc)

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
