"""The connection behind a webhook URL, kept per process between deliveries.

Looking it up through the ORM (query compilation, three model conversions, one Fernet decryption of its webhook
secrets) cost the inbox about as much CPU as the bare INSERT of a delivery. Each process keeps what the inbox
reads of a connection (`FIELDS`, secrets already decrypted) keyed by (provider, endpoint uuid).

Every committed change to a connection (save, delete, queryset update or bulk create) is announced on a Redis
pub/sub channel; a thread of each process listens and drops that process's copies when an announcement comes.
The process that made the change drops its own at once, before announcing it. A delivery costs no Redis round trip:
checking a number in Redis on each one was a third of what the inbox cost beyond a bare INSERT under uvicorn
(bench/ingest.py). Another process sees the change once the announcement reaches it, a few milliseconds after
the commit, instead of on its very next delivery.

The copies are not used when they cannot be trusted: while the listener is not subscribed (first deliveries of a
process, Redis unreachable or restarting: the database answers, and every copy is dropped when it subscribes
again, since announcements may have been missed meanwhile), inside a transaction (a row read there may be rolled
back: tests and callers that wrap the inbox read the database), or older than `MAX_AGE_SECONDS` (a bound if an
announcement was lost: Redis refusing the PUBLISH while the listener stayed subscribed).
"""

from __future__ import annotations

import atexit
import copy
import logging
import os
import threading
import time
import uuid

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from redis.exceptions import RedisError

from apps.core import redis_clients
from apps.core.models import Connection
from apps.core.signals import connections_changed_in_bulk

logger = logging.getLogger(__name__)

# What the inbox reads of the connection: not its API secrets nor its OAuth token, which would be decrypted
# for nothing on every delivery (a verifier that needs one, DocuSeal's header secret, loads it on access).
# The name and slug are for the live feed's row and for the message naming an unreadable secret.
FIELDS = ("id", "provider", "name", "slug", "is_active", "config", "webhook_secrets", "webhook_endpoint_id")
CHANNEL_PREFIX = "core:connections:changed"
MAX_AGE_SECONDS = 30
PING_EVERY_SECONDS = 5  # a listener whose connection died silently finds out within this
_QUEUE = "webhooks"

# In the model's field order, as Model.from_db wants them.
_ATTNAMES = tuple(f.attname for f in Connection._meta.concrete_fields if f.attname in FIELDS)

# Names an update() or save(update_fields=...) may use for the fields above (a foreign key has none here).
_READ_NAMES = frozenset(FIELDS) | {"pk"}


class _Listener:
    """The thread that keeps this process's copies honest: it moves `epoch` (and drops the copies) on every
    announcement and whenever it (re)subscribes. A copy is served only if it was loaded in the current epoch, so
    a row read just before an announcement arrives is never kept under the new one."""

    RETRY_DELAYS = (0.5, 1, 2, 5)  # seconds before subscribing again after losing Redis, the last one repeated

    def __init__(self):
        # (provider, endpoint uuid) -> (epoch, loaded at, values in _ATTNAMES order)
        self.entries: dict[tuple[str, uuid.UUID], tuple[int, float, tuple]] = {}
        self.lock = threading.Lock()
        self.epoch = 0
        self.subscribed = threading.Event()
        self.pid = None
        self.thread = None
        self.pubsub = None
        self.failures = 0  # attempts to subscribe again since Redis was lost
        self.token = ""  # what this process's announcements carry: it has dropped its copies before sending them
        self._start_lock = threading.Lock()

    def trusted(self) -> bool:
        if self.pid != os.getpid() or self.thread is None or not self.thread.is_alive():
            self._start()
            return False
        return self.subscribed.is_set()

    def invalidate(self) -> None:
        with self.lock:
            self.epoch += 1
            self.entries.clear()

    def _start(self) -> None:
        with self._start_lock:
            if self.pid == os.getpid() and self.thread is not None and self.thread.is_alive():
                return
            # A forked child inherits the parent's copies and flag, but not its thread.
            self.subscribed.clear()
            self.invalidate()
            self.pid = os.getpid()
            self.token = uuid.uuid4().hex
            self.thread = threading.Thread(target=self._run, name="connections-listener", daemon=True)
            self.thread.start()

    def stop(self) -> None:
        """At exit: the thread leaves quietly instead of reporting the loss of a Redis that is shutting down."""
        self.thread = None

    def _current(self) -> bool:
        return self.thread is threading.current_thread()

    def _run(self) -> None:
        while self._current():
            try:
                self._listen()
            except Exception as exc:  # Redis gone or restarting: nothing is trusted until subscribed again
                if not self._current():
                    return
                self.subscribed.clear()
                self.invalidate()
                delay = self.RETRY_DELAYS[min(self.failures, len(self.RETRY_DELAYS) - 1)]
                self.failures += 1
                logger.warning("Écoute des changements de connexions interrompue (%s) : reprise dans %s s",
                               exc, delay)
                time.sleep(delay)

    def _listen(self) -> None:
        self.pubsub = pubsub = redis_clients.for_queue(_QUEUE).pubsub()
        try:
            pubsub.subscribe(channel())
            pinged = time.monotonic()
            while self._current():
                message = pubsub.get_message(timeout=1.0)
                if message is None:
                    pass
                elif message["type"] == "subscribe":
                    self.invalidate()  # announcements may have been missed before
                    self.failures = 0
                    self.subscribed.set()
                elif message["type"] == "message" and message["data"] != self.token.encode():
                    self.invalidate()
                if time.monotonic() - pinged > PING_EVERY_SECONDS:
                    pubsub.ping()
                    pinged = time.monotonic()
        finally:
            if self._current():
                self.subscribed.clear()
            pubsub.close()


_listener = _Listener()
atexit.register(_listener.stop)


def channel() -> str:
    """Per Redis database: pub/sub channels are server-wide, and two consoles may share one server."""
    db = redis_clients.for_queue(_QUEUE).connection_pool.connection_kwargs.get("db", 0)
    return f"{CHANNEL_PREFIX}:{db}"


def find(provider: str, endpoint_id: uuid.UUID) -> Connection | None:
    """The connection receiving on this URL (only `FIELDS` loaded), or None."""
    key = (provider, endpoint_id)
    listener = _listener
    trusted = not transaction.get_connection().in_atomic_block and listener.trusted()
    epoch = listener.epoch
    if trusted:
        entry = listener.entries.get(key)
        if entry is not None and entry[0] == epoch and time.monotonic() - entry[1] < MAX_AGE_SECONDS:
            return _instance(entry[2])
    connection = (
        Connection.objects.filter(provider=provider, webhook_endpoint_id=endpoint_id).only(*FIELDS).first()
    )
    if connection is not None and trusted:
        values = tuple(connection.__dict__[name] for name in _ATTNAMES)  # past the descriptors: no decryption error
        with listener.lock:
            if listener.epoch == epoch:
                listener.entries[key] = (epoch, time.monotonic(), copy.deepcopy(values))
    return connection


def listening(timeout: float) -> bool:
    """Whether this process serves its copies: its listener (started if need be) is subscribed. Waits up to
    `timeout` seconds for it."""
    _listener.trusted()
    return _listener.subscribed.wait(timeout)


def connections_changed() -> None:
    """Called once a change to any connection is committed: this process's copies go now, the others' when the
    announcement reaches them."""
    _listener.invalidate()
    try:
        redis_clients.for_queue(_QUEUE).publish(channel(), _listener.token)
    except RedisError as exc:
        # Other processes keep their copy until MAX_AGE_SECONDS, unless their listener lost Redis too (then they
        # read the database until it is back).
        logger.warning("Changement de connexion non annoncé (Redis) : %s", exc)


def changed_on_commit(sender, update_fields=None, fields=None, **kwargs) -> None:
    """Receiver of Connection's post_save / post_delete, and of its queryset's update and bulk_create.

    A change that leaves every field the inbox reads alone (a call's success recorded, a token refreshed)
    keeps the copies: it happens on every vendor call, and would otherwise send each delivery to the database.
    """
    changed = update_fields if update_fields is not None else fields
    if changed is not None and not set(changed) & _READ_NAMES:
        return
    transaction.on_commit(connections_changed)


def _instance(values: tuple) -> Connection:
    # A fresh instance per delivery (requests run on threads of their own); the other fields are deferred.
    return Connection.from_db(Connection.objects.db, _ATTNAMES, copy.deepcopy(values))


def connect() -> None:
    post_save.connect(changed_on_commit, sender=Connection, dispatch_uid="core.endpoints.saved")
    post_delete.connect(changed_on_commit, sender=Connection, dispatch_uid="core.endpoints.deleted")
    connections_changed_in_bulk.connect(changed_on_commit, sender=Connection, dispatch_uid="core.endpoints.bulk")
