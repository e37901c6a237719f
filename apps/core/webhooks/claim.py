"""The statements each processing job starts with: claim, lock, read of the event with its connection.

Through the ORM, the claim (`filter().exclude().update()`) and the locked read of the event with its connection
(`select_for_update(of=self).select_related().defer(secrets).first()`) were compiled on every job: about a
millisecond of the worker's CPU per event, more than the statements themselves (bench/processing.py). The claim
and the read are written here once per database, their values converted by the fields' own converters as the
ORM does; the lock stays a small ORM query.
"""

from __future__ import annotations

import functools

from django.db import connections, router

from apps.core.fields import EncryptedJSONField
from apps.core.models import Connection, WebhookEvent

Status = WebhookEvent.Status


def claim(event_id: int, settled) -> bool:
    """`processing`, one more attempt, unless the event is settled; committed at once (autocommit).
    False when there was nothing to claim. A job holding the row lock makes it wait (see lock_and_read)."""
    db = _db()
    with db.cursor() as cursor:
        cursor.execute(_claim_sql(db.vendor, len(settled)), [Status.PROCESSING, event_id, *settled])
        return cursor.rowcount > 0


def lock(event_id: int) -> str | None:
    """Lock the event's row until the end of the current transaction (where the database has row locks) and
    return its status, or None when it is gone. `FOR UPDATE OF` the event only: locking its connection row
    would hold every new delivery to that connection (whose insert checks that row) while the handler runs.
    The one statement left to the ORM: small, and the place tests hold a job between its claim and its lock."""
    return (WebhookEvent.objects.select_for_update(of=("self",)).filter(pk=event_id)
            .values_list("status", flat=True).first())


def read(event_id: int) -> WebhookEvent | None:
    """The event with its connection, the connection's encrypted fields deferred (loaded on access)."""
    db = _db()
    event_fields, connection_fields = _columns()
    sql = _select_sql(db.vendor)
    with db.cursor() as cursor:
        cursor.execute(sql, [event_id])
        row = cursor.fetchone()
    if row is None:
        return None
    values = [_convert(field, value, db) for field, value in zip(event_fields + connection_fields, row)]
    event = WebhookEvent.from_db(db.alias, [f.attname for f in event_fields], values[:len(event_fields)])
    connection = Connection.from_db(db.alias, [f.attname for f in connection_fields], values[len(event_fields):])
    WebhookEvent._meta.get_field("connection").set_cached_value(event, connection)
    return event


def _db():
    return connections[router.db_for_write(WebhookEvent)]


@functools.cache
def _columns() -> tuple[tuple, tuple]:
    event_fields = tuple(WebhookEvent._meta.concrete_fields)
    connection_fields = tuple(f for f in Connection._meta.concrete_fields if not isinstance(f, EncryptedJSONField))
    return event_fields, connection_fields


def _convert(field, value, db):
    for converter in _converters(field, db.vendor):
        value = converter(value, field.cached_col, db)
    return value


_converter_cache: dict = {}


def _converters(field, vendor: str) -> list:
    """What the ORM's compiler applies to a selected column: the backend's converters, then the field's."""
    key = (field, vendor)
    found = _converter_cache.get(key)
    if found is None:
        db = _db()
        found = _converter_cache[key] = (db.ops.get_db_converters(field.cached_col)
                                         + field.get_db_converters(db))
    return found


@functools.cache
def _claim_sql(vendor: str, settled_count: int) -> str:
    db = _db()
    quote = db.ops.quote_name
    meta = WebhookEvent._meta
    return "UPDATE {table} SET {status} = %s, {attempts} = {attempts} + 1 WHERE {pk} = %s AND {status} NOT IN ({settled})".format(
        table=quote(meta.db_table), status=quote(meta.get_field("status").column),
        attempts=quote(meta.get_field("attempts").column), pk=quote(meta.pk.column),
        settled=", ".join(["%s"] * settled_count))


@functools.cache
def _select_sql(vendor: str) -> str:
    db = _db()
    quote = db.ops.quote_name
    event_fields, connection_fields = _columns()
    columns = [f"e.{quote(f.column)}" for f in event_fields] + [f"c.{quote(f.column)}" for f in connection_fields]
    return "SELECT {columns} FROM {events} e INNER JOIN {connections} c ON c.{connection_pk} = e.{connection_id} " \
           "WHERE e.{pk} = %s".format(
               columns=", ".join(columns), events=quote(WebhookEvent._meta.db_table),
               connections=quote(Connection._meta.db_table), connection_pk=quote(Connection._meta.pk.column),
               connection_id=quote(WebhookEvent._meta.get_field("connection").column),
               pk=quote(WebhookEvent._meta.pk.column))
