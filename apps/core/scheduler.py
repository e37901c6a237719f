"""Periodic jobs: a registry apps fill at start-up and the loop that enqueues what is due.

Apps declare their jobs in AppConfig.ready() with dotted paths, so core imports no system app:

    from apps.core.scheduler import every
    every(60, "apps.revolut.jobs.refresh_balances", queue="sync")

One scheduler process (`manage.py scheduler`) enqueues due jobs on the RQ queues through
apps.core.jobs; workers run them. Last-run times live in Redis, so a restart does not fire a job
twice, and a Redis lock with a short lease makes extra scheduler processes wait as hot standbys.
A job whose previous run is still queued or running is not enqueued again: a stopped worker does
not pile up copies; a previous run whose worker died (no heartbeat) does not hold the next one back.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Callable

from redis import Redis
from redis.exceptions import RedisError
from rq.exceptions import NoSuchJobError
from rq.job import Job

from apps.core import jobs

logger = logging.getLogger(__name__)

KEY_PREFIX = "console:scheduler:"
LOCK_KEY = KEY_PREFIX + "lock"
LAST_RUN_KEY = KEY_PREFIX + "last_run"  # hash: job name -> epoch seconds of the last enqueue
LAST_JOB_KEY = KEY_PREFIX + "last_job"  # hash: job name -> RQ job id of the last enqueue

# Take the lock if free, extend it if ours; atomic so two schedulers can never both hold it.
_ACQUIRE_OR_RENEW = """
local holder = redis.call('GET', KEYS[1])
if holder == false then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


@dataclass(frozen=True)
class PeriodicJob:
    name: str
    func: str  # dotted path, imported by the worker
    seconds: int
    queue: str = "default"


_registry: dict[str, PeriodicJob] = {}


def every(seconds: int, func: str, *, queue: str = "default", name: str | None = None) -> PeriodicJob:
    """Register `func` (dotted path) to be enqueued on `queue` every `seconds` seconds."""
    if not isinstance(func, str) or "." not in func:
        raise ValueError(f"Chemin de fonction attendu (module.fonction), reçu {func!r}")
    if int(seconds) < 1:
        raise ValueError("La période doit être d'au moins une seconde.")
    if queue not in jobs.QUEUES:
        raise ValueError(f"File inconnue : {queue!r} (attendu : {', '.join(jobs.QUEUES)})")
    job = PeriodicJob(name=name or func, func=func, seconds=int(seconds), queue=queue)
    _registry[job.name] = job
    return job


def periodic_jobs() -> list[PeriodicJob]:
    return sorted(_registry.values(), key=lambda job: job.name)


class Scheduler:
    def __init__(
        self,
        connection: Redis,
        periodic: list[PeriodicJob] | None = None,
        *,
        lock_ttl_seconds: float = 30,
        clock: Callable[[], float] = time.time,
    ):
        self.connection = connection
        self.periodic = periodic if periodic is not None else periodic_jobs()
        self.lock_ttl_ms = int(lock_ttl_seconds * 1000)
        self.clock = clock
        self.token = uuid.uuid4().hex
        self._acquire_or_renew = connection.register_script(_ACQUIRE_OR_RENEW)
        self._release = connection.register_script(_RELEASE)

    def hold_lock(self) -> bool:
        """Take or extend the single-scheduler lock; False while another scheduler holds it."""
        return bool(self._acquire_or_renew(keys=[LOCK_KEY], args=[self.token, self.lock_ttl_ms]))

    def release_lock(self) -> None:
        self._release(keys=[LOCK_KEY], args=[self.token])

    def due(self, now: float) -> list[PeriodicJob]:
        if not self.periodic:
            return []
        last_runs = self.connection.hmget(LAST_RUN_KEY, [job.name for job in self.periodic])
        return [
            job
            for job, last_run in zip(self.periodic, last_runs)
            if last_run is None or now - float(last_run) >= job.seconds
        ]

    def previous_run_pending(self, job: PeriodicJob) -> bool:
        job_id = self.connection.hget(LAST_JOB_KEY, job.name)
        if job_id is None:
            return False
        try:
            job = Job.fetch(job_id.decode(), connection=self.connection)
        except NoSuchJobError:
            return False
        # A run started by a worker that died no longer counts: the next one must not wait for RQ's clean-up.
        return jobs.job_is_alive(job)

    def tick(self) -> list[str]:
        """Enqueue every due job if this scheduler holds the lock; return the names enqueued."""
        if not self.hold_lock():
            return []
        return self._enqueue_due()

    def _enqueue_due(self) -> list[str]:
        now = self.clock()
        enqueued = []
        for job in self.due(now):
            if self.previous_run_pending(job):
                logger.info("Tâche planifiée %s : exécution précédente encore en attente, report.", job.name)
                continue
            rq_job = jobs.enqueue_now(job.func, queue=job.queue, description=f"planifiée : {job.name}")
            if rq_job is None:
                continue
            self.connection.hset(LAST_RUN_KEY, job.name, repr(now))
            self.connection.hset(LAST_JOB_KEY, job.name, rq_job.id)
            enqueued.append(job.name)
        return enqueued

    def run(self, stop: threading.Event, *, interval: float = 1.0) -> None:
        """Tick until `stop` is set; survive Redis outages; release the lock on the way out."""
        was_holder = None
        try:
            while not stop.is_set():
                try:
                    holder = self.hold_lock()
                    if holder != was_holder:
                        if holder:
                            logger.info("Planificateur actif : %d tâches périodiques.", len(self.periodic))
                        else:
                            logger.info("Un autre planificateur détient le verrou ; celui-ci attend.")
                        was_holder = holder
                    if holder:
                        for name in self._enqueue_due():
                            logger.info("Tâche planifiée mise en file : %s", name)
                except RedisError as exc:
                    logger.warning("Redis indisponible pour le planificateur : %s", exc)
                    was_holder = None
                stop.wait(interval)
        finally:
            try:
                self.release_lock()
            except RedisError:
                pass
