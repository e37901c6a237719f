"""The connection behind a webhook URL, kept per process between deliveries.

Looking it up through the ORM (query compilation, three model conversions, one Fernet decryption of its webhook
secrets) cost the inbox about as much CPU as the bare INSERT of a delivery. Each process keeps what the inbox
reads of a connection (`FIELDS`, secrets already decrypted) keyed by (provider, endpoint uuid), and trusts it only
while a generation number in Redis has not moved: every change to a connection (save, delete, queryset update or
bulk create) moves it once committed, so a disabled or deleted connection, or a rotated secret, is never served
by any process after its commit. One Redis GET per delivery, on the pooled client, instead of the query.

The cache is not used when it cannot be trusted: Redis unreachable (the GET fails: the database answers), inside
a transaction (a row read there may be rolled back: tests and callers that wrap the inbox read the database),
or older than `MAX_AGE_SECONDS` (a bound if a generation bump was lost: Redis failing at that very moment).
A Redis restart without its data loses the generation key; the next reader sets a new random one, which no
cached entry carries.
"""

from __future__ import annotations

import copy
import logging
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
GENERATION_KEY = "core:connections:generation"
MAX_AGE_SECONDS = 30
_QUEUE = "webhooks"

# In the model's field order, as Model.from_db wants them.
_ATTNAMES = tuple(f.attname for f in Connection._meta.concrete_fields if f.attname in FIELDS)

# Names an update() or save(update_fields=...) may use for the fields above (a foreign key has none here).
_READ_NAMES = frozenset(FIELDS) | {"pk"}

# (provider, endpoint uuid) -> (generation, loaded at, values in _ATTNAMES order)
_entries: dict[tuple[str, uuid.UUID], tuple[bytes, float, tuple]] = {}
_lock = threading.Lock()


def find(provider: str, endpoint_id: uuid.UUID) -> Connection | None:
    """The connection receiving on this URL (only `FIELDS` loaded), or None."""
    key = (provider, endpoint_id)
    generation = None if transaction.get_connection().in_atomic_block else _generation()
    if generation is not None:
        entry = _entries.get(key)
        if entry is not None and entry[0] == generation and time.monotonic() - entry[1] < MAX_AGE_SECONDS:
            return _instance(entry[2])
    connection = (
        Connection.objects.filter(provider=provider, webhook_endpoint_id=endpoint_id).only(*FIELDS).first()
    )
    if connection is not None and generation is not None:
        values = tuple(connection.__dict__[name] for name in _ATTNAMES)  # past the descriptors: no decryption error
        with _lock:
            _entries[key] = (generation, time.monotonic(), copy.deepcopy(values))
    return connection


def connections_changed() -> None:
    """Called once a change to any connection is committed: every process reloads on its next delivery."""
    with _lock:
        _entries.clear()
    try:
        redis_clients.for_queue(_QUEUE).incr(GENERATION_KEY)
    except RedisError as exc:
        # Other processes keep their copy until MAX_AGE_SECONDS (their GET fails too if Redis is down).
        logger.warning("Génération des connexions non incrémentée (Redis) : %s", exc)


def changed_on_commit(sender, update_fields=None, fields=None, **kwargs) -> None:
    """Receiver of Connection's post_save / post_delete, and of its queryset's update and bulk_create.

    A change that leaves every field the inbox reads alone (a call's success recorded, a token refreshed)
    keeps the copies: it happens on every vendor call, and would otherwise send each delivery to the database.
    """
    changed = update_fields if update_fields is not None else fields
    if changed is not None and not set(changed) & _READ_NAMES:
        return
    transaction.on_commit(connections_changed)


def _generation() -> bytes | None:
    try:
        redis = redis_clients.for_queue(_QUEUE)
        generation = redis.get(GENERATION_KEY)
        if generation is None:
            # First use, or Redis lost its data: a value no cached entry can hold.
            redis.set(GENERATION_KEY, time.time_ns(), nx=True)
            generation = redis.get(GENERATION_KEY)
        return generation
    except RedisError:
        return None


def _instance(values: tuple) -> Connection:
    # A fresh instance per delivery (requests run on threads of their own); the other fields are deferred.
    return Connection.from_db(Connection.objects.db, _ATTNAMES, copy.deepcopy(values))


def connect() -> None:
    post_save.connect(changed_on_commit, sender=Connection, dispatch_uid="core.endpoints.saved")
    post_delete.connect(changed_on_commit, sender=Connection, dispatch_uid="core.endpoints.deleted")
    connections_changed_in_bulk.connect(changed_on_commit, sender=Connection, dispatch_uid="core.endpoints.bulk")
