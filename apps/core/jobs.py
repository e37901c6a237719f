"""Enqueueing background work on the RQ queues `default`, `webhooks` and `sync`, and telling live jobs from lost ones.

Jobs are enqueued after the surrounding transaction commits, so a worker never sees a row that
is not there yet. If Redis is down the failure is logged, not raised: the caller's row stays in
its initial state and a periodic sweeper re-enqueues it.

Work tied to a row (a webhook event, an action run) is enqueued under a job id derived from the row, so a
sweeper can ask whether its job is still alive: waiting in a queue (or for a delayed retry), or started by a
worker that heartbeats (apps.core.worker beats every few seconds). A job that is missing (Redis restarted,
data lost), finished or failed while its row is unsettled, or started by a worker that stopped beating, is
lost: the sweeper enqueues it again under the same id.
"""

import logging
from datetime import timedelta

import django_rq
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from redis.exceptions import RedisError
from rq import Worker
from rq.job import Job, JobStatus
from rq.suspension import is_suspended

from apps.core import redis_clients

logger = logging.getLogger(__name__)

QUEUES = ("default", "webhooks", "sync")
# A started job whose last heartbeat is older than this lost its worker (the console's worker beats every 5 s).
STALE_AFTER_SECONDS = 20
# A worker whose last heartbeat is older than this is gone (idle, the console's worker beats every 15 s).
WORKER_GONE_AFTER_SECONDS = 60
WAITING_STATUSES = {JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.DEFERRED}


def enqueue_now(func, *args, queue: str = "default", **kwargs):
    """Enqueue immediately; returns the RQ job, or None when Redis is unreachable."""
    try:
        # commit_mode="auto": django-rq's default would defer (and return None) inside an atomic block;
        # deferral is enqueue_on_commit's job, and None must keep meaning "Redis is unreachable".
        # The process's shared client (a new one per call opened a TCP connection, and asked the server's
        # version, each time), and one pipeline: RQ sends its queue registration and the job in one round trip.
        redis = redis_clients.for_queue(queue)
        rq_queue = django_rq.get_queue(queue, commit_mode="auto", connection=redis)
        with redis.pipeline() as pipe:
            job = rq_queue.enqueue(func, *args, pipeline=pipe, **kwargs)
            pipe.execute()
        return job
    except RedisError as exc:
        logger.warning("Redis indisponible, tâche %s non mise en file : %s", getattr(func, "__name__", func), exc)
        return None


def enqueue_on_commit(func, *args, queue: str = "default", **kwargs) -> None:
    transaction.on_commit(lambda: enqueue_now(func, *args, queue=queue, **kwargs))


def job_is_alive(job: Job | None, *, now=None) -> bool:
    """Waiting to run, or running on a worker that still heartbeats."""
    if job is None:
        return False
    status = job.get_status(refresh=False)
    if status in WAITING_STATUSES:
        return True
    if status == JobStatus.STARTED:
        beat = job.last_heartbeat or job.started_at
        return beat is not None and (now or timezone.now()) - beat < timedelta(seconds=STALE_AFTER_SECONDS)
    return False


def live_job_ids(job_ids, *, queue: str = "default") -> set[str]:
    """The ids among `job_ids` whose job is alive (one round trip). Raises RedisError when Redis is down."""
    job_ids = list(job_ids)
    if not job_ids:
        return set()
    found = Job.fetch_many(job_ids, connection=redis_clients.for_queue(queue))
    now = timezone.now()
    return {job_id for job_id, job in zip(job_ids, found) if job_is_alive(job, now=now)}


def live_workers(queue: str = "default") -> list[Worker]:
    rq_queue = django_rq.get_queue(queue, connection=redis_clients.for_queue(queue))
    now = timezone.now()
    return [
        worker for worker in Worker.all(queue=rq_queue)
        if worker.last_heartbeat and now - worker.last_heartbeat < timedelta(seconds=WORKER_GONE_AFTER_SECONDS)
    ]


def why_waiting(job_id: str, queue: str = "default") -> str | None:
    """In French, why the job `job_id` has not started yet; None when a live worker is running it."""
    try:
        connection = redis_clients.for_queue(queue)
        job = Job.fetch_many([job_id], connection=connection)[0]
        if job is not None and job.get_status(refresh=False) == JobStatus.STARTED:
            if job_is_alive(job):
                return None
            return _("Le worker qui l'exécutait s'est arrêté : elle reprend automatiquement dans la minute.")
        if job is None or not job_is_alive(job):
            return _("Sa tâche a été perdue (Redis a redémarré ?) : elle est remise en file automatiquement "
                     "dans la minute.")
        if is_suspended(connection):
            return _("Les workers sont suspendus : elle partira à leur reprise.")
        if not live_workers(queue):
            return _("Aucun worker n'est en marche : elle partira dès qu'un worker démarre.")
        ahead = django_rq.get_queue(queue, connection=connection).get_job_position(job_id)
        if ahead:
            return _("%(count)d tâche(s) la précèdent dans la file.") % {"count": ahead}
        return _("Un worker va la prendre.")
    except RedisError:
        return _("Redis est injoignable : elle partira dès son retour.")
