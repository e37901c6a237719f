"""One Redis client per Redis URL per process, shared by every request, job and thread of that process.

`django_rq.get_queue()` / `get_connection()` build a new client — with its own connection pool — on each call,
so each delivery opened (and dropped) a TCP connection to Redis. The clients here keep their pool: redis-py's
pool is thread-safe and resets itself in a forked child (it checks the pid), so a process that forks (the RQ
worker) never shares a socket with its parent.
"""

from __future__ import annotations

import threading

import django_rq
from django.conf import settings
from redis import Redis

_clients: dict[str, Redis] = {}
_lock = threading.Lock()


def for_queue(name: str = "default") -> Redis:
    """The shared client of the RQ queue `name` (settings.RQ_QUEUES), built by django-rq the first time."""
    config = settings.RQ_QUEUES[name]
    key = f"{config.get('URL')}|{config.get('DB')}"
    client = _clients.get(key)
    if client is None:
        with _lock:
            client = _clients.get(key)
            if client is None:
                client = _clients[key] = django_rq.get_connection(name)
    return client


def for_url(url: str) -> Redis:
    client = _clients.get(url)
    if client is None:
        with _lock:
            client = _clients.get(url) or _clients.setdefault(url, Redis.from_url(url))
    return client
