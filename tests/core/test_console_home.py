from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.contrib.auth.models import Permission, User
from django.db import connection as db
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from apps.core import live_feed
from apps.core.models import ApiCall, Connection, SyncRun, WebhookEvent
from apps.core.signals import webhook_event_processed, webhook_event_stored
from tests.core.provider_double import double_provider  # noqa: F401

pytestmark = pytest.mark.django_db

INDEX = "/admin/"


@pytest.fixture
def connection(double_provider):
    return Connection.objects.create(provider="double", name="Compte principal", slug="compte-principal")


def webhook(connection, event_type, status=WebhookEvent.Status.PROCESSED, age=timedelta(0), key=""):
    event = WebhookEvent.objects.create(
        connection=connection, provider=connection.provider, event_type=event_type, status=status,
        body=b"{}", provider_event_id=key,
    )
    if age:
        WebhookEvent.objects.filter(pk=event.pk).update(received_at=timezone.now() - age)
        event.refresh_from_db()
    return event


def api_call(connection, status_code, age=timedelta(0)):
    call = ApiCall.objects.create(connection=connection, method="GET", url="https://x.test/a", status_code=status_code)
    if age:
        ApiCall.objects.filter(pk=call.pk).update(created_at=timezone.now() - age)


def card(html, connection):
    start = html.index(f'id="connection-card-{connection.pk}"')
    return html[start:html.index("</article>", start)]


def test_a_card_per_connection_with_health_last_webhook_last_sync_and_24h_failures(admin_client, connection):
    webhook(connection, "invoice.created", age=timedelta(hours=2))
    webhook(connection, "quote.signed", status=WebhookEvent.Status.FAILED, age=timedelta(minutes=5))
    webhook(connection, "old.failure", status=WebhookEvent.Status.FAILED, age=timedelta(days=2))
    api_call(connection, 200)
    api_call(connection, 502)
    api_call(connection, None)  # network error
    api_call(connection, 500, age=timedelta(days=3))
    SyncRun.objects.create(connection=connection, resource="items", status=SyncRun.Status.FAILED)
    SyncRun.objects.create(connection=connection, resource="notes", status=SyncRun.Status.SUCCEEDED,
                           finished_at=timezone.now())
    Connection.objects.filter(pk=connection.pk).update(consecutive_failures=1, last_ok_at=timezone.now())
    quiet = Connection.objects.create(provider="gone", name="Système retiré", slug="retire")

    html = admin_client.get(INDEX).content.decode()

    first = card(html, connection)
    assert "Système double" in first
    assert '<span class="console-badge console-badge--degraded">Dégradée</span>' in first
    assert "quote.signed" in first and "invoice.created" not in first
    assert '<span class="console-badge console-badge--ok">Terminée</span>' in first
    assert "4 <span" in first  # 1 webhook + 2 calls + 1 sync within 24 h
    assert "(webhooks 1, appels 2, synchronisations 1)" in first
    assert '<a href="/hub/double/">Ouvrir Système double</a>' in first

    second = card(html, quiet)
    assert "gone" in second and "Jamais testée" in second
    assert "aucun" in second and "jamais" in second
    assert "Ouvrir" not in second


def test_the_feed_shows_the_20_latest_webhooks_newest_first_and_listens_live(admin_client, connection):
    for i in range(22):
        webhook(connection, f"event.{i:02d}", age=timedelta(minutes=30 - i))

    html = admin_client.get(INDEX).content.decode()

    feed = html[html.index('id="webhook-feed"'):html.index("</ol>", html.index('id="webhook-feed"'))]
    shown = [f"event.{i:02d}" for i in range(22) if f"event.{i:02d}" in feed]
    assert shown == [f"event.{i:02d}" for i in range(2, 22)]
    assert feed.index("event.21") < feed.index("event.02")
    assert 'hx-ext="ws" ws-connect="/ws/live/console.webhooks/"' in html


def test_django_app_list_stays_below_the_console(admin_client, connection):
    html = admin_client.get(INDEX).content.decode()
    assert html.index('id="console-connections-title"') < html.index(reverse("admin:core_connection_changelist"))


def test_staff_without_the_console_capability_gets_the_plain_index(client, connection):
    user = User.objects.create_user("stagiaire", password="x", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_connection"))
    client.force_login(user)
    html = client.get(INDEX).content.decode()
    assert "connection-card-" not in html and "ws-connect" not in html
    assert reverse("admin:core_connection_changelist") in html


def test_console_queries_do_not_grow_with_connections(admin_client, double_provider):
    def queries_for_index():
        with CaptureQueriesContext(db) as captured:
            assert admin_client.get(INDEX).status_code == 200
        return len(captured)

    first = Connection.objects.create(provider="double", name="A", slug="a")
    webhook(first, "a.event")
    one = queries_for_index()
    for i in range(5):
        extra = Connection.objects.create(provider="double", name=f"B{i}", slug=f"b{i}")
        webhook(extra, "b.event")
        api_call(extra, 500)
    assert queries_for_index() == one


@pytest.fixture
def feed_listener(redis_connection):
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(live_feed.GROUP, channel)
    return lambda: async_to_sync(layer.receive)(channel)["html"]


def test_a_stored_webhook_is_pushed_on_top_of_the_feed(connection, feed_listener):
    event = webhook(connection, "invoice.paid", status=WebhookEvent.Status.QUEUED)
    webhook_event_stored.send(sender=WebhookEvent, event=event)

    html = feed_listener()
    assert html.strip().startswith('<ol hx-swap-oob="afterbegin:#webhook-feed">')
    assert f'<li id="webhook-feed-{event.pk}" class="console-feed__row">' in html
    assert "invoice.paid" in html and "Compte principal" in html and "En file" in html


def test_a_processed_webhook_replaces_its_row(connection, feed_listener):
    event = webhook(connection, "invoice.paid", status=WebhookEvent.Status.FAILED)
    webhook_event_processed.send(sender=WebhookEvent, event=event)

    html = feed_listener()
    assert f'<li id="webhook-feed-{event.pk}" class="console-feed__row" hx-swap-oob="true">' in html
    assert '<span class="console-badge console-badge--down">Échec</span>' in html


def test_the_home_is_titled_as_the_console_home_in_each_language(admin_client, connection):
    french = admin_client.get(reverse("admin:index")).content.decode()
    admin_client.cookies["django_language"] = "en"
    english = admin_client.get(reverse("admin:index")).content.decode()

    assert "<h1>Accueil de la console</h1>" in french and "Site d&#x27;administration" not in french
    assert "<h1>Console home</h1>" in english
