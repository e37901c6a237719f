"""Enqueueing background work on the RQ queues `default`, `webhooks` and `sync`.

Jobs are enqueued after the surrounding transaction commits, so a worker never sees a row that
is not there yet. If Redis is down the failure is logged, not raised: the caller's row stays in
its initial state and a periodic sweeper re-enqueues it.
"""

import logging

import django_rq
from django.db import transaction
from redis.exceptions import RedisError

from apps.core import redis_clients

logger = logging.getLogger(__name__)

QUEUES = ("default", "webhooks", "sync")


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
