"""Server-pushed HTML fragments: render a partial, send it to a Channels group.

Pages subscribe with htmx's ws extension (`hx-ext="ws" ws-connect="/ws/live/<group>/"`); each fragment
carries its own `id` and `hx-swap-oob`, so the extension swaps it into place. Who may join a group is
declared here with `register_group`; the consumer (apps/core/consumers.py) enforces it.
"""

import asyncio
import concurrent.futures
import logging
import os
import re
import threading
import time
from collections.abc import Callable

from channels.layers import get_channel_layer
from channels_redis.core import RedisChannelLayer
from django.conf import settings
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import translation
from redis.exceptions import RedisError

from apps.core import redis_clients

logger = logging.getLogger(__name__)

GROUP_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{0,90}$")

# A rule for listening to a group: a permission codename ("" = any active staff user), or a function
# (user, group name) -> bool for groups whose audience depends on the group (a record's socket).
ListenRule = str | Callable[[object, str], bool]

# group prefix -> rule
_group_permissions: dict[str, ListenRule] = {}


def register_group(prefix: str, permission: ListenRule = "") -> None:
    _group_permissions[prefix] = permission


def permission_for(group: str) -> ListenRule | None:
    """The rule a user must pass to join `group`, or None if no such group is declared."""
    if not GROUP_NAME.match(group):
        return None
    for prefix in sorted(_group_permissions, key=len, reverse=True):
        if group == prefix or group.startswith(prefix + "."):
            return _group_permissions[prefix]
    return None


# How long a push may wait for Redis before the sender gives up on it (a page misses one refresh).
SEND_TIMEOUT_SECONDS = 5


def push_html(group: str, html: str, by_language: dict[str, str] | None = None) -> None:
    """`by_language`: the fragment in each language of the console; each socket sends its user's own."""
    layer = get_channel_layer()
    if layer is None:
        return
    message = {"type": "fragment", "html": html}
    if by_language:
        message["by_language"] = by_language
    future = None
    try:
        future = asyncio.run_coroutine_threadsafe(layer.group_send(group, message), _sender_loop())
        future.result(timeout=SEND_TIMEOUT_SECONDS)
    except (RedisError, OSError, concurrent.futures.TimeoutError) as exc:
        # A live page missing one refresh is acceptable; the request or job that pushed must not fail.
        if future is not None:
            future.cancel()
        logger.warning("Fragment non diffusé au groupe %s : %s", group, exc or "délai dépassé")


def push(group: str, template: str, context: dict | None = None) -> None:
    push_html(group, render_to_string(template, context or {}))


# One event loop per process, on a thread of its own, for every push from synchronous code (requests, jobs).
# `async_to_sync(layer.group_send)` started a thread and an event loop per push, and channels_redis keeps its
# Redis connections per event loop: each push opened (and dropped) a connection. This loop keeps them.
_loop: asyncio.AbstractEventLoop | None = None
_loop_pid: int | None = None
_loop_lock = threading.Lock()


def _sender_loop() -> asyncio.AbstractEventLoop:
    global _loop, _loop_pid
    if _loop is not None and _loop_pid == os.getpid():
        return _loop
    with _loop_lock:
        # A forked child inherits the loop object but not its thread: it starts its own.
        if _loop is None or _loop_pid != os.getpid():
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="live-push-loop", daemon=True).start()
            _loop, _loop_pid = loop, os.getpid()
    return _loop


# batch name -> the callback registered with on_commit (the same object each time, so it is registered once)
_flushers: dict[str, Callable[[], None]] = {}


def after_commit(batch: str, item, flush: Callable[[set], None]) -> None:
    """Collect `item` in the current transaction's `batch`; once it commits, `flush(items)` runs once.

    A sync writing thousands of rows in one transaction then renders and pushes once per record, not once
    per row (and nothing is pushed for a transaction that rolls back before its next commit).
    """
    connection = transaction.get_connection()
    connection.__dict__.setdefault(f"_live_{batch}", set()).add(item)
    flusher = _flushers.get(batch)
    if flusher is None:
        def flusher():
            items = transaction.get_connection().__dict__.pop(f"_live_{batch}", set())
            if items:
                flush(items)

        _flushers[batch] = flusher
    # Registered again if a rolled-back savepoint took the previous registration with it.
    if not any(callback is flusher for _sids, callback, _robust in connection.run_on_commit):
        transaction.on_commit(flusher)


def push_in_each_language(group: str, template: str, context: Callable[[], dict]) -> None:
    """Render the fragment once per language of the console (its context built anew in each: text written out
    when read, like a timeline's), for pages whose readers do not all read the same language."""
    by_language = {}
    for code, _name in settings.LANGUAGES:
        with translation.override(code):
            by_language[code] = render_to_string(template, context())
    push_html(group, by_language.get(settings.LANGUAGE_CODE) or next(iter(by_language.values())), by_language)


def has_listeners(group: str) -> bool:
    """Whether any socket listens to `group`: one ZCOUNT on the channel layer's own membership set, so a
    sender can skip rendering a fragment nobody will receive. Answers True whenever it cannot tell (another
    layer, Redis unreachable): a useless push costs time, a skipped one would leave a page stale.

    The set is channels_redis's (`<prefix>:group:<name>`, one member per channel, scored by the time it
    joined); a member is alive for `group_expiry` seconds, as for group_send. A socket whose server died
    without leaving counts until then: pushes for nobody, never the reverse.
    """
    layer = get_channel_layer()
    if layer is None:
        return False
    if not isinstance(layer, RedisChannelLayer) or not layer.hosts:
        return True
    address = layer.hosts[layer.consistent_hash(group)].get("address")
    if not address:
        return True
    try:
        alive_since = time.time() - layer.group_expiry
        return redis_clients.for_url(address).zcount(layer._group_key(group), alive_since, "+inf") > 0
    except (RedisError, OSError):
        return True


register_group("console", "core.view_console")
