"""The inbox keeps each connection it has read between deliveries; a change to the connection is honoured by the
very next delivery of the process that committed it, and by another process as soon as the change's announcement
reaches it: a rotated secret, a disabled or deleted connection."""

import threading
import time

import logging

import pytest
import redis
from django.db import connection as db_connection
from django.db import transaction
from django.db.models.signals import post_delete, post_init, post_save
from django.test.utils import CaptureQueriesContext

from apps.core import providers, redis_clients
from apps.core.models import Connection, WebhookEvent
from apps.core.signals import connections_changed_in_bulk
from apps.core.webhooks import endpoints
from tests.core.webhook_doubles import Base64BodyScheme, registered_hook

Status = WebhookEvent.Status
NEW_SECRET = "whsec-rotated-9876543210"


@pytest.fixture(autouse=True)
def new_process(monkeypatch):
    """Each test starts as a new web process would: its own listener, the cache wired to connection changes
    by connect() at start-up (so that mutation testing sees this code run by every test here)."""
    listener = endpoints._Listener()
    monkeypatch.setattr(endpoints, "_listener", listener)
    receivers = ((post_save, "core.endpoints.saved"), (post_delete, "core.endpoints.deleted"),
                 (connections_changed_in_bulk, "core.endpoints.bulk"))
    for signal, uid in receivers:
        signal.disconnect(sender=Connection, dispatch_uid=uid)
    endpoints.connect()
    yield listener
    listener.stop()


@pytest.fixture
def hook(redis_connection):
    hook = registered_hook(Base64BodyScheme)
    assert endpoints.listening(timeout=5)
    assert hook.post().status_code == 200  # the process now holds the connection
    yield hook
    providers.unregister(hook.scheme.provider_key)


@pytest.fixture
def refused_to_the_listener(monkeypatch):
    """While set, the listener's thread cannot connect to Redis: Redis down, as this process sees it."""
    real_connect = redis.connection.AbstractConnection.connect
    refusing = threading.Event()

    def connect(self, *args, **kwargs):
        if refusing.is_set() and threading.current_thread() is endpoints._listener.thread:
            raise redis.exceptions.ConnectionError("Redis est arrêté")
        return real_connect(self, *args, **kwargs)

    monkeypatch.setattr(redis.connection.AbstractConnection, "connect", connect)
    return refusing


def connection_reads(callable_):
    with CaptureQueriesContext(db_connection) as captured:
        result = callable_()
    return result, [q["sql"] for q in captured.captured_queries if 'FROM "core_connection"' in q["sql"]]


def wait_for(condition, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def rotate_secret_behind_the_orm(connection):
    """Another process's commit: the row changes under this process, without this process's signals."""
    with db_connection.cursor() as cursor:
        cursor.execute("UPDATE core_connection SET webhook_secrets = %s WHERE id = %s",
                       [Connection._meta.get_field("webhook_secrets").get_prep_value([NEW_SECRET]), connection.pk])


def announce_from_another_process(redis_connection):
    epoch = endpoints._listener.epoch
    assert redis_connection.publish(endpoints.channel(), "changed") >= 1  # this process's listener heard it
    assert wait_for(lambda: endpoints._listener.epoch != epoch)


def kill_the_listeners_connection(redis_connection):
    port = endpoints._listener.pubsub.connection._sock.getsockname()[1]
    clients = [c for c in redis_connection.client_list(_type="pubsub") if c["addr"].endswith(f":{port}")]
    assert len(clients) == 1
    redis_connection.client_kill_filter(_id=clients[0]["id"])


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
def test_a_secret_rotated_by_another_process_is_required_once_announced(hook, redis_connection):
    rotate_secret_behind_the_orm(hook.connection)
    assert hook.post(secret=NEW_SECRET).status_code == 401  # not announced yet: the copy answers
    announce_from_another_process(redis_connection)
    assert hook.post().status_code == 401
    assert hook.post(secret=NEW_SECRET).status_code == 200


@pytest.mark.django_db(transaction=True)
def test_a_change_is_announced_to_other_processes_once_committed(hook, redis_connection):
    pubsub = redis_connection.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(endpoints.channel())
    try:
        with transaction.atomic():
            hook.connection.name = "Renommée"
            hook.connection.save()
            assert pubsub.get_message(timeout=0.3) is None  # not before the commit: it could still roll back
        message = pubsub.get_message(timeout=2)
        assert message is not None and message["channel"].decode() == endpoints.channel()
    finally:
        pubsub.close()


def test_two_consoles_on_one_redis_server_announce_on_channels_of_their_own(settings):
    db = redis.Redis.from_url(settings.REDIS_URL).connection_pool.connection_kwargs.get("db", 0)
    assert endpoints.channel() == f"core:connections:changed:{db}"


@pytest.mark.django_db(transaction=True)
def test_recording_a_vendor_call_keeps_the_copy(hook):
    hook.connection.record_success()
    response, reads = connection_reads(hook.post)
    assert response.status_code == 200 and reads == []


@pytest.mark.django_db(transaction=True)
def test_a_copy_older_than_its_max_age_is_read_again(hook, monkeypatch):
    # The bound on a copy whose announcement was lost (Redis refusing one PUBLISH while the listener stayed up).
    monkeypatch.setattr(endpoints, "MAX_AGE_SECONDS", 0.5)
    hook.post()
    response, reads = connection_reads(hook.post)
    assert response.status_code == 200 and reads == []  # within its age
    time.sleep(0.6)
    response, reads = connection_reads(hook.post)
    assert response.status_code == 200 and len(reads) == 1


@pytest.mark.django_db(transaction=True)
def test_a_row_read_while_a_change_is_announced_is_not_kept(hook):
    Connection.objects.filter(pk=hook.connection.pk).update(name="Relue")  # this process drops its copy

    def announced_during_the_read(sender, instance, **kwargs):
        post_init.disconnect(announced_during_the_read, sender=Connection)
        endpoints.connections_changed()  # e.g. the secret rotated elsewhere between SELECT and keeping the row

    post_init.connect(announced_during_the_read, sender=Connection, weak=False)
    try:
        assert connection_reads(hook.post)[1]  # read from the database, during the announcement
    finally:
        post_init.disconnect(announced_during_the_read, sender=Connection)
    response, reads = connection_reads(hook.post)
    assert response.status_code == 200 and len(reads) == 1  # what was read then may be stale: read again


@pytest.mark.django_db(transaction=True)
def test_inside_a_transaction_the_connection_is_read_from_the_database(hook):
    with transaction.atomic():
        response, reads = connection_reads(hook.post)
    assert response.status_code == 200 and len(reads) == 1


@pytest.mark.django_db(transaction=True)
def test_while_the_listener_has_lost_redis_every_delivery_reads_its_connection(hook, redis_connection,
                                                                               monkeypatch, refused_to_the_listener):
    refused_to_the_listener.set()
    monkeypatch.setattr(endpoints._Listener, "RETRY_DELAYS", (0.05, 3))
    failed_attempts = endpoints._listener.failures
    kill_the_listeners_connection(redis_connection)
    assert wait_for(lambda: endpoints._listener.failures >= failed_attempts + 2)  # now waiting 3 s
    # And the process says it is not serving copies, within the time it was given to answer.
    answers = []
    probe = threading.Thread(target=lambda: answers.append(endpoints.listening(timeout=0.05)), daemon=True)
    probe.start()
    probe.join(2)
    assert answers == [False]
    # Announcements cannot reach this process now: a change made elsewhere must still be seen.
    with db_connection.cursor() as cursor:
        cursor.execute("UPDATE core_connection SET is_active = %s WHERE id = %s", [False, hook.connection.pk])
    for _ in range(2):
        response, reads = connection_reads(hook.post)
        assert response.status_code == 200 and response.json()["status"] == Status.IGNORED
        assert len(reads) == 1

    refused_to_the_listener.clear()
    assert endpoints.listening(timeout=5)  # Redis is back: subscribed again, copies kept again
    hook.post()
    response, reads = connection_reads(hook.post)
    assert response.json()["status"] == Status.IGNORED and reads == []


@pytest.mark.django_db(transaction=True)
def test_a_redis_restart_drops_every_copy(hook, redis_connection):
    # A restarted Redis has forgotten the subscription and whatever was announced while it was down.
    with db_connection.cursor() as cursor:
        cursor.execute("UPDATE core_connection SET is_active = %s WHERE id = %s", [False, hook.connection.pk])
    epoch = endpoints._listener.epoch
    kill_the_listeners_connection(redis_connection)
    assert wait_for(lambda: endpoints._listener.epoch != epoch and endpoints.listening(0))
    response = hook.post()
    assert response.status_code == 200 and response.json()["status"] == Status.IGNORED


@pytest.mark.django_db(transaction=True)
def test_a_forked_process_does_not_serve_the_copies_it_inherited(hook, monkeypatch):
    parent = endpoints._listener.pid
    monkeypatch.setattr(endpoints.os, "getpid", lambda: parent + 1)  # what a fork's child sees
    response, reads = connection_reads(hook.post)
    assert response.status_code == 200 and len(reads) == 1
    assert endpoints.listening(timeout=5) and endpoints._listener.thread.name == "connections-listener"
    hook.post()
    response, reads = connection_reads(hook.post)  # the child's own listener now keeps its copies honest
    assert response.status_code == 200 and reads == []
    monkeypatch.undo()
    assert endpoints.listening(timeout=5)



@pytest.mark.django_db(transaction=True)
def test_each_endpoint_is_answered_with_its_own_connection(hook, redis_connection):
    other = registered_hook(Base64BodyScheme, secret="whsec-other-0000000000")
    try:
        assert other.post().status_code == 200  # both connections are now kept by this process
        assert hook.post().status_code == 200 and other.post().status_code == 200
        assert other.post(secret=hook.secret).status_code == 401  # never verified against the other's secret
        response, reads = connection_reads(other.post)
        assert response.status_code == 200 and reads == []
    finally:
        providers.unregister(other.scheme.provider_key)


@pytest.mark.django_db(transaction=True)
def test_what_one_delivery_does_to_its_connection_in_memory_never_reaches_the_next(hook):
    key = (hook.connection.provider, hook.connection.webhook_endpoint_id)
    first = endpoints.find(*key)
    first.config["touché"] = True
    first.webhook_secrets.append("ajouté en mémoire")
    second = endpoints.find(*key)
    assert "touché" not in second.config and second.webhook_secrets == [hook.secret]
    second.config["touché"] = True
    assert "touché" not in endpoints.find(*key).config


@pytest.mark.django_db(transaction=True)
def test_a_copy_loaded_from_the_database_is_not_changed_by_its_first_reader(hook):
    Connection.objects.filter(pk=hook.connection.pk).update(name="Relue")  # this process drops its copy
    key = (hook.connection.provider, hook.connection.webhook_endpoint_id)
    loaded = endpoints.find(*key)  # read from the database, and kept
    loaded.webhook_secrets.append("ajouté en mémoire")
    assert endpoints.find(*key).webhook_secrets == [hook.secret]


def test_the_channel_is_the_redis_database_s_own(monkeypatch, settings):
    client = redis.Redis.from_url(settings.REDIS_URL.rsplit("/", 1)[0] + "/3")
    monkeypatch.setattr(redis_clients, "for_queue", lambda name="default": client)
    assert endpoints.channel() == "core:connections:changed:3"


@pytest.mark.django_db(transaction=True)
def test_its_own_announcements_do_not_drop_the_copies_of_the_process_that_sent_them(hook):
    hook.connection.name = "Renommée ici"
    hook.connection.save()  # dropped here at once, then announced
    hook.post()  # kept again
    time.sleep(0.3)  # the announcement has come back to this process's listener by now
    response, reads = connection_reads(hook.post)
    assert response.status_code == 200 and reads == []


@pytest.mark.django_db(transaction=True)
def test_a_listener_keeps_its_subscription_across_its_pings(hook, monkeypatch):
    monkeypatch.setattr(endpoints, "PING_EVERY_SECONDS", 0.05)
    epoch = endpoints._listener.epoch
    time.sleep(1.5)  # a message wait or two, each followed by a ping
    assert endpoints.listening(0) and endpoints._listener.epoch == epoch
    response, reads = connection_reads(hook.post)
    assert response.status_code == 200 and reads == []


@pytest.mark.django_db(transaction=True)
def test_a_listener_that_lost_redis_tries_again_after_growing_delays_then_from_the_first_once_back(
        hook, redis_connection, monkeypatch, caplog, refused_to_the_listener):
    refusing = refused_to_the_listener
    monkeypatch.setattr(endpoints._Listener, "RETRY_DELAYS", (0.05, 0.1, 0.15))
    caplog.set_level(logging.WARNING, logger=endpoints.__name__)

    def delays():
        return [record.args[1] for record in caplog.records if record.name == endpoints.__name__]

    for _ in range(2):  # Redis lost twice: each time the delays start again from the first
        caplog.clear()
        refusing.set()
        kill_the_listeners_connection(redis_connection)
        assert wait_for(lambda: len(delays()) >= 5)
        assert delays()[:5] == [0.05, 0.1, 0.15, 0.15, 0.15]
        refusing.clear()
        assert endpoints.listening(5)


@pytest.mark.django_db(transaction=True)
def test_a_stopped_listener_s_thread_ends_within_seconds(hook):
    thread = endpoints._listener.thread
    endpoints._listener.stop()
    thread.join(timeout=3)
    assert not thread.is_alive()


@pytest.mark.django_db(transaction=True)
def test_a_process_started_while_redis_is_down_subscribes_once_it_is_back(redis_connection, monkeypatch, caplog,
                                                                           refused_to_the_listener):
    refusing = refused_to_the_listener
    refusing.set()
    monkeypatch.setattr(endpoints._Listener, "RETRY_DELAYS", (0.05, 0.1))
    caplog.set_level(logging.WARNING, logger=endpoints.__name__)
    hook = registered_hook(Base64BodyScheme)
    try:
        assert hook.post().status_code == 200  # answered from the database meanwhile
        assert wait_for(lambda: len([r for r in caplog.records if r.name == endpoints.__name__]) >= 3)
        delays = [r.args[1] for r in caplog.records if r.name == endpoints.__name__][:3]
        assert delays == [0.05, 0.1, 0.1]
        refusing.clear()
        assert endpoints.listening(5)
        hook.post()
        response, reads = connection_reads(hook.post)
        assert response.status_code == 200 and reads == []
    finally:
        providers.unregister(hook.scheme.provider_key)


@pytest.mark.django_db(transaction=True)
def test_deliveries_are_still_answered_once_the_listener_is_stopped(hook):
    endpoints._listener.stop()  # what the process's exit does
    response, reads = connection_reads(hook.post)
    assert response.status_code == 200 and len(reads) == 1


def test_a_process_with_a_listener_still_exits(tmp_path, settings):
    """The listener must not keep a finished process alive (its thread waits on Redis for ever)."""
    import os
    import subprocess
    import sys

    assert endpoints.listening(5)  # here too: mutmut learns which tests reach a function only from this process
    script = ("import django; django.setup(); from apps.core.webhooks import endpoints; "
              "assert endpoints.listening(5); raise SystemExit(3)")
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="config.settings", DEBUG="1",
               DATABASE_URL=f"sqlite:///{tmp_path / 'nothing.sqlite3'}", REDIS_URL=settings.REDIS_URL)
    finished = subprocess.run([sys.executable, "-c", script], cwd=settings.BASE_DIR, env=env, timeout=30,
                              capture_output=True)
    assert finished.returncode == 3, finished.stderr[-2000:]


@pytest.mark.django_db(transaction=True)
def test_a_save_of_fields_the_inbox_does_not_read_keeps_the_copy(hook):
    hook.connection.token_status = Connection.TokenStatus.OK
    hook.connection.save(update_fields=["token_status"])
    response, reads = connection_reads(hook.post)
    assert response.status_code == 200 and reads == []


@pytest.mark.django_db(transaction=True)
def test_deleting_rows_other_than_connections_keeps_the_copies(hook):
    WebhookEvent.objects.filter(connection=hook.connection).delete()  # e.g. the log's retention
    response, reads = connection_reads(hook.post)
    assert response.status_code == 200 and reads == []
