"""The inbox keeps each connection it has read between deliveries; a change to the connection, committed by this
process or another, is honoured by the very next delivery: a rotated secret, a disabled or deleted connection."""

import pytest
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext
from redis.exceptions import ConnectionError as RedisConnectionError

from apps.core import providers, redis_clients
from apps.core.models import Connection, WebhookEvent
from apps.core.webhooks import endpoints
from tests.core.webhook_doubles import Base64BodyScheme, registered_hook

Status = WebhookEvent.Status
NEW_SECRET = "whsec-rotated-9876543210"


@pytest.fixture
def hook(redis_connection):
    hook = registered_hook(Base64BodyScheme)
    assert hook.post().status_code == 200  # the process now holds the connection
    yield hook
    providers.unregister(hook.scheme.provider_key)


def connection_reads(callable_):
    with CaptureQueriesContext(db_connection) as captured:
        result = callable_()
    return result, [q["sql"] for q in captured.captured_queries if 'FROM "core_connection"' in q["sql"]]


@pytest.mark.django_db(transaction=True)
def test_a_rotated_secret_is_required_from_the_next_delivery(hook):
    hook.connection.webhook_secrets = [NEW_SECRET]
    hook.connection.save()
    assert hook.post().status_code == 401  # the former secret
    assert hook.post(secret=NEW_SECRET).status_code == 200


@pytest.mark.django_db(transaction=True)
def test_a_connection_disabled_by_a_queryset_update_stores_deliveries_as_ignored(hook):
    Connection.objects.filter(pk=hook.connection.pk).update(is_active=False)
    response = hook.post()
    assert response.status_code == 200 and response.json()["status"] == Status.IGNORED


@pytest.mark.django_db(transaction=True)
def test_a_deleted_connection_is_unknown_at_once(hook):
    Connection.objects.filter(pk=hook.connection.pk).delete()
    assert hook.post().status_code == 404


@pytest.mark.django_db(transaction=True)
def test_a_secret_rotated_by_another_process_is_required_once_it_has_committed(hook, redis_connection):
    # Another process's commit: the row changes under this process, then that process moves the generation.
    with db_connection.cursor() as cursor:
        cursor.execute("UPDATE core_connection SET webhook_secrets = %s WHERE id = %s",
                       [Connection._meta.get_field("webhook_secrets").get_prep_value([NEW_SECRET]),
                        hook.connection.pk])
    assert hook.post(secret=NEW_SECRET).status_code == 401  # not committed-and-announced yet: the copy answers
    redis_connection.incr(endpoints.GENERATION_KEY)
    assert hook.post().status_code == 401
    assert hook.post(secret=NEW_SECRET).status_code == 200


@pytest.mark.django_db(transaction=True)
def test_a_committed_change_moves_the_generation_other_processes_read(hook, redis_connection):
    before = int(redis_connection.get(endpoints.GENERATION_KEY))
    hook.connection.name = "Renommée"
    hook.connection.save()
    assert int(redis_connection.get(endpoints.GENERATION_KEY)) == before + 1


@pytest.mark.django_db(transaction=True)
def test_recording_a_vendor_call_keeps_the_copy(hook):
    hook.connection.record_success()
    response, reads = connection_reads(hook.post)
    assert response.status_code == 200 and reads == []


@pytest.mark.django_db(transaction=True)
def test_without_redis_every_delivery_reads_its_connection(hook, monkeypatch):
    def unreachable(*args, **kwargs):
        raise RedisConnectionError("Redis est arrêté")

    monkeypatch.setattr(redis_clients, "for_queue", unreachable)
    Connection.objects.filter(pk=hook.connection.pk).update(is_active=False)  # its bump is lost too
    (response, reads) = connection_reads(hook.post)
    assert response.status_code == 200 and response.json()["status"] == Status.IGNORED
    assert len(reads) == 1


@pytest.mark.django_db(transaction=True)
def test_redis_losing_its_data_drops_every_copy(hook, redis_connection):
    with db_connection.cursor() as cursor:
        cursor.execute("UPDATE core_connection SET is_active = %s WHERE id = %s", [False, hook.connection.pk])
    redis_connection.flushdb()
    response = hook.post()
    assert response.status_code == 200 and response.json()["status"] == Status.IGNORED
