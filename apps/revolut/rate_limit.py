"""Revolut's budget of 60 requests per minute per business, shared by every web and worker process.

A sliding-window log in Redis: one sorted set per business holding the times of the calls made in the
last 60 seconds. A Lua script trims, counts and reserves a slot atomically using the Redis clock, so
processes on different machines agree. Over budget, the caller waits for the oldest slot to leave the
window instead of spending a request on a 429.
"""

from __future__ import annotations

import time
import uuid

import redis
from django.conf import settings

from apps.core.http import RateLimited

WINDOW_SECONDS = 60
DEFAULT_LIMIT = 60
MAX_WAIT_SECONDS = 90

# Returns 0 when a slot was reserved, else the milliseconds until the oldest call leaves the window.
_RESERVE = """
local key = KEYS[1]
local limit = tonumber(ARGV[1])
local window_ms = tonumber(ARGV[2])
local member = ARGV[3]
local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', key, '-inf', now_ms - window_ms)
if redis.call('ZCARD', key) < limit then
  redis.call('ZADD', key, now_ms, member)
  redis.call('PEXPIRE', key, window_ms)
  return 0
end
local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
return math.max(1, tonumber(oldest[2]) + window_ms - now_ms)
"""

_client = None


def _redis():
    global _client
    if _client is None:
        _client = redis.Redis.from_url(settings.REDIS_URL)
    return _client


class RequestBudget:
    """The per-business limiter. `acquire()` blocks until a request may be sent."""

    sleep = staticmethod(time.sleep)

    def __init__(self, business_key: str, *, limit: int | None = None, window_seconds: int = WINDOW_SECONDS,
                 max_wait_seconds: float = MAX_WAIT_SECONDS):
        self.key = f"revolut:rate:{business_key}"
        self.limit = limit or getattr(settings, "REVOLUT_REQUESTS_PER_MINUTE", DEFAULT_LIMIT)
        self.window_ms = int(window_seconds * 1000)
        self.max_wait_seconds = max_wait_seconds
        self._script = _redis().register_script(_RESERVE)

    def try_reserve(self) -> float:
        """Reserve a slot now and return 0, or return the seconds to wait before trying again."""
        wait_ms = self._script(keys=[self.key], args=[self.limit, self.window_ms, uuid.uuid4().hex])
        return int(wait_ms) / 1000

    def acquire(self) -> None:
        waited = 0.0
        while True:
            wait = self.try_reserve()
            if not wait:
                return
            if waited + wait > self.max_wait_seconds:
                raise RateLimited("Quota Revolut de requêtes par minute atteint ; réessayez dans une minute.")
            self.sleep(wait)
            waited += wait

    def used(self) -> int:
        now_ms = int(time.time() * 1000)
        return _redis().zcount(self.key, now_ms - self.window_ms, "+inf")
