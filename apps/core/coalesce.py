"""Coalesced jobs: however many events ask for the same follow-up, run it a bounded number of times.

A system app that wants "refresh X after an event" calls `request_on_commit(key, func, *args)` instead of
enqueueing `func` itself. Per key, a fixed window in Redis (an INCR counter with a PX expiry):

- the first `burst` requests of a window enqueue `func` at once (a lone event is reflected without delay);
- later requests of the same window schedule one trailing run for the moment the window ends, and
  nothing more: the trailing run starts after every request it stands for, so late events are included;
- the trailing run counts against the window it starts in, so runs per key never exceed `burst` per window.

583 events in a few seconds therefore cost `burst` + one run per window, not 583. The trailing run is an RQ
scheduled job (`enqueue_in`): the worker runs with `--with-scheduler` (Procfile). If Redis is unreachable
the request is logged and dropped, like apps.core.jobs: the caller's periodic job is the safety net, and
the trailing key expires on its own so a lost scheduled job never blocks the key.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import django_rq
from django.db import transaction
from redis.exceptions import RedisError

from apps.core import jobs, redis_clients

logger = logging.getLogger(__name__)

KEY_PREFIX = "console:coalesce:"

# Returns -1 when the request may run now, else the window's remaining milliseconds (the trailing run's delay)
# if this request is the one that must schedule it, else 0 (a trailing run is already scheduled).
_REQUEST = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
if count <= tonumber(ARGV[2]) then
  return -1
end
local remaining = redis.call('PTTL', KEYS[1])
if remaining < 0 then
  remaining = tonumber(ARGV[1])
end
if redis.call('SET', KEYS[2], '1', 'NX', 'PX', remaining + tonumber(ARGV[1])) then
  return math.max(remaining, 1)
end
return 0
"""

# The trailing run starts: later requests may schedule the next one, and this run counts in its window.
_START_TRAILING = """
redis.call('DEL', KEYS[2])
local count = redis.call('INCR', KEYS[1])
if count == 1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return count
"""


def request(key: str, func, *args, window: float = 5.0, burst: int = 1, queue: str = "default") -> str:
    """Ask for `func(*args)` to run after now, coalesced per `key`; returns "now", "scheduled" or "coalesced"."""
    window_ms = max(int(window * 1000), 1)
    window_key, trailing_key = _keys(key)
    try:
        rq_queue = django_rq.get_queue(queue, commit_mode="auto", connection=redis_clients.for_queue(queue))
        delay_ms = rq_queue.connection.eval(_REQUEST, 2, window_key, trailing_key, window_ms, burst)
        if delay_ms == -1:
            jobs.enqueue_now(func, *args, queue=queue)
            return "now"
        if delay_ms == 0:
            return "coalesced"
        rq_queue.enqueue_in(timedelta(milliseconds=delay_ms), run_trailing, key, window_ms, func, *args)
        return "scheduled"
    except RedisError as exc:
        logger.warning("Redis indisponible, tâche %s non demandée : %s", getattr(func, "__name__", func), exc)
        return "dropped"


def request_on_commit(key: str, func, *args, **options) -> None:
    transaction.on_commit(lambda: request(key, func, *args, **options))


def run_trailing(key: str, window_ms: int, func, *args):
    """The scheduled job: reopen the key to new requests first, so none arriving during `func` is lost."""
    window_key, trailing_key = _keys(key)
    try:
        redis_clients.for_queue("default").eval(_START_TRAILING, 2, window_key, trailing_key, window_ms)
    except RedisError as exc:  # the run itself matters more than the accounting
        logger.warning("Fenêtre %s non mise à jour : %s", key, exc)
    return func(*args)


def _keys(key: str) -> tuple[str, str]:
    return f"{KEY_PREFIX}{key}:window", f"{KEY_PREFIX}{key}:trailing"
