"""What one delivery costs the inbox under a server (autocommit): statements, Redis connections, live pushes.

Behaviour a burst of deliveries depends on (issue 11): one INSERT after the connection lookup and no job
written by the request (the worker's dispatcher queues the row), Redis through a connection that stays open,
no feed row rendered while no page listens — and the same guarantees as before (queued with its job once
dispatched, received while Redis refuses it).
"""

import json
import os
import subprocess
import sys

import django_rq
import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext
from redis.exceptions import ConnectionError as RedisConnectionError

from apps.core import live, live_feed, providers, redis_clients
from apps.core.models import WebhookEvent
from apps.core.webhooks import endpoints
from apps.core.webhooks.dispatch import dispatch_received
from tests.core.webhook_doubles import Base64BodyScheme, registered_hook

Status = WebhookEvent.Status


@pytest.fixture
def hook(redis_connection):
    hook = registered_hook(Base64BodyScheme)
    assert endpoints.listening(timeout=5)  # the process keeps connections it has read
    yield hook
    providers.unregister(hook.scheme.provider_key)


@pytest.mark.django_db(transaction=True)
def test_a_delivery_is_one_insert_once_its_connection_is_known_and_its_row_is_queued_by_the_dispatcher(hook):
    with CaptureQueriesContext(db_connection) as first:
        hook.post()  # the first delivery of a process reads its connection
    lookups = [query["sql"] for query in first.captured_queries if '"core_connection"' in query["sql"]]
    assert len(lookups) == 1 and lookups[0].startswith("SELECT")
    # The API secrets and the OAuth token are not read (nor decrypted) to accept a delivery.
    assert '"core_connection"."secrets"' not in lookups[0] and '"core_connection"."oauth_token"' not in lookups[0]

    with CaptureQueriesContext(db_connection) as captured:
        response = hook.post()
    assert response.status_code == 200 and response.json()["status"] == Status.RECEIVED
    statements = [query["sql"] for query in captured.captured_queries]
    assert len(statements) == 1, statements
    assert 'INSERT INTO "core_webhookevent"' in statements[0]
    event = WebhookEvent.objects.get(pk=response.json()["id"])
    assert event.status == Status.RECEIVED
    assert django_rq.get_queue("webhooks").count == 0
    assert dispatch_received() == 2
    event.refresh_from_db()
    assert event.status == Status.QUEUED
    assert [job.args for job in django_rq.get_queue("webhooks").get_jobs()][-1] == (event.pk,)


@pytest.mark.django_db(transaction=True)
def test_deliveries_reuse_one_redis_connection(hook, redis_connection):
    hook.post()
    opened_before = redis_connection.info("stats")["total_connections_received"]
    for _ in range(20):
        assert hook.post().status_code == 200
    opened = redis_connection.info("stats")["total_connections_received"] - opened_before
    assert opened <= 1  # was one per delivery (a new client each time)
    assert dispatch_received() == 21
    assert django_rq.get_queue("webhooks").count == 21


@pytest.mark.django_db(transaction=True)
def test_redis_down_after_the_insert_leaves_the_event_received_for_the_sweeper(hook, monkeypatch):
    def unreachable(*args, **kwargs):
        raise RedisConnectionError("Redis est arrêté")

    monkeypatch.setattr(redis_clients, "for_queue", unreachable)
    response = hook.post()
    assert response.status_code == 200
    assert WebhookEvent.objects.get().status == Status.RECEIVED


@pytest.mark.django_db(transaction=True)
def test_rejected_cap_counts_in_the_database_when_the_shared_redis_client_fails(hook, settings, monkeypatch):
    settings.WEBHOOK_REJECTED_MAX_PER_HOUR = 2

    def unreachable(*args, **kwargs):
        raise RedisConnectionError("Redis est arrêté")

    monkeypatch.setattr(redis_clients, "for_queue", unreachable)
    assert [hook.post(secret="forged-secret").status_code for _ in range(3)] == [401, 401, 401]
    assert WebhookEvent.objects.filter(status=Status.REJECTED).count() == 2


def test_the_feed_knows_whether_a_page_listens(redis_connection):
    layer = get_channel_layer()
    assert not live.has_listeners(live_feed.GROUP)
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(live_feed.GROUP, channel)
    assert live.has_listeners(live_feed.GROUP)
    async_to_sync(layer.group_discard)(live_feed.GROUP, channel)
    assert not live.has_listeners(live_feed.GROUP)


@pytest.mark.django_db(transaction=True)
def test_no_feed_row_is_rendered_while_nobody_listens(hook, monkeypatch):
    rendered = []
    original = live_feed.render_to_string
    monkeypatch.setattr(live_feed, "render_to_string",
                        lambda *args, **kwargs: rendered.append(args[0]) or original(*args, **kwargs))
    assert hook.post().status_code == 200
    dispatch_received()
    assert rendered == []

    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(live_feed.GROUP, channel)
    assert hook.post().status_code == 200
    assert rendered == []  # the request renders nothing: the dispatcher announces the rows it queues
    dispatch_received()
    assert rendered == ["core/home/webhook_feed_insert.html"]
    assert "webhook-feed-" in async_to_sync(layer.receive)(channel)["html"]


def test_the_asgi_entry_point_pools_database_connections_without_passing_it_on():
    """The web server pools (only on PostgreSQL); nothing it starts, nor this test run, inherits the switch."""
    script = (
        "import os, django.conf; import config.asgi; from django.conf import settings; "
        "print(settings.DATABASES['default'].get('OPTIONS', {}).get('pool') is not None, "
        "'DATABASE_POOL' in os.environ)"
    )
    env = {key: value for key, value in os.environ.items() if key != "DATABASE_POOL"}
    env |= {"DATABASE_URL": "postgres://bench@127.0.0.1:1/never_connected", "DEBUG": "1",
            "REDIS_URL": settings.REDIS_URL, "DJANGO_SETTINGS_MODULE": "config.settings"}
    output = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env,
                            cwd=settings.BASE_DIR, timeout=120)
    assert output.stdout.split() == ["True", "False"], output.stderr[-2000:]


@pytest.mark.django_db
def test_a_sender_that_hangs_up_before_its_body_is_read_gets_a_readable_400_not_a_traceback(hook):
    """Under ASGI, Django closes the body when the client disconnects while the view still runs (wrk does it
    at the end of every run): the read then fails on a closed file."""
    import io

    from django.core.handlers.asgi import ASGIRequest

    from apps.core.webhooks import views

    body = b'{"id": "evt-hung-up"}'
    scope = {"type": "http", "method": "POST", "path": hook.connection.webhook_path(), "query_string": b"",
             "client": ("127.0.0.1", 5000), "headers": [(b"content-length", str(len(body)).encode())]}
    stream = io.BytesIO(body)
    request = ASGIRequest(scope, stream)
    stream.close()
    response = views.receive(request, provider=hook.connection.provider,
                             endpoint_id=str(hook.connection.webhook_endpoint_id))
    assert response.status_code == 400
    assert "interrompu" in json.loads(response.content)["detail"]
    assert not WebhookEvent.objects.exists()
