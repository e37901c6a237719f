"""The webhook log in the admin: filters, search, read-only detail, replay behind its permission."""

import pytest
from django.contrib.auth.models import Permission, User
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from apps.core import providers
from apps.core.models import Connection, WebhookEvent
from tests.core.webhook_doubles import Base64BodyScheme, registered_hook

pytestmark = pytest.mark.django_db
Status = WebhookEvent.Status
CHANGELIST = "/admin/core/webhookevent/"


@pytest.fixture
def hook(redis_connection):
    hook = registered_hook(Base64BodyScheme)
    yield hook
    providers.unregister(hook.scheme.provider_key)


@pytest.fixture
def events(hook):
    hook.post(event_id="evt-100", customer={"name": "Société Générale d'Essai", "total": 12})
    hook.post(event_id="evt-1000", event_type="thing.other", headers={"X-Api-Token": "tok-secret-value"})
    hook.post(secret="forged")
    return {e.provider_event_id or "rejected": e for e in WebhookEvent.objects.all()}


def staff(client, *codenames):
    user = User.objects.create_user(f"agent-{len(codenames)}", password="x", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    client.force_login(user)
    return user


@pytest.fixture
def admin_client_(client):
    client.force_login(User.objects.create_superuser("root", password="x"))
    return client


def listed_ids(response):
    return {event.pk for event in response.context["cl"].result_list}


def test_list_filters_by_status_provider_connection_type_and_date(admin_client_, events, hook):
    rejected = events["rejected"]
    assert listed_ids(admin_client_.get(CHANGELIST)) == {e.pk for e in events.values()}
    assert listed_ids(admin_client_.get(CHANGELIST, {"status__exact": "rejected"})) == {rejected.pk}
    assert len(listed_ids(admin_client_.get(CHANGELIST, {"provider": hook.connection.provider}))) == 3
    assert listed_ids(admin_client_.get(CHANGELIST, {"provider": "somebody-else"})) == set()
    assert len(listed_ids(admin_client_.get(CHANGELIST, {"connection__id__exact": hook.connection.pk}))) == 3
    assert listed_ids(admin_client_.get(CHANGELIST, {"event_type": "thing.created"})) == {events["evt-100"].pk}
    midnight = timezone.localtime(rejected.received_at).replace(hour=0, minute=0, second=0, microsecond=0)
    today = admin_client_.get(CHANGELIST, {"received_at__gte": midnight.isoformat()})
    assert len(listed_ids(today)) == 3


def test_search_finds_any_part_of_the_provider_event_id(admin_client_, events):
    assert listed_ids(admin_client_.get(CHANGELIST, {"q": "evt-1000"})) == {events["evt-1000"].pk}
    assert listed_ids(admin_client_.get(CHANGELIST, {"q": "VT-10"})) == {events["evt-100"].pk, events["evt-1000"].pk}
    assert listed_ids(admin_client_.get(CHANGELIST, {"q": "evt-2"})) == set()


def test_list_never_counts_the_whole_table(admin_client_, events):
    for params in ({}, {"status__exact": "processed"}, {"q": "evt-100"}):
        with CaptureQueriesContext(db_connection) as queries:
            assert admin_client_.get(CHANGELIST, params).status_code == 200
        counts = [q["sql"] for q in queries.captured_queries
                  if "COUNT(" in q["sql"].upper() and "core_webhookevent" in q["sql"]]
        assert counts, "the paginator must still report a (bounded) count"
        assert all("LIMIT" in sql.upper() for sql in counts), counts


def test_detail_shows_pretty_json_and_masked_headers_read_only(admin_client_, events):
    event = events["evt-1000"]
    response = admin_client_.get(f"{CHANGELIST}{event.pk}/change/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "&quot;id&quot;: &quot;evt-1000&quot;" in html  # indented JSON, escaped
    assert "tok-secret-value" not in html
    assert "whsec-test" not in html
    assert "X-Api-Token" in html and "••••" in html
    assert 'name="_save"' not in html
    assert admin_client_.post(f"{CHANGELIST}{event.pk}/change/", {}).status_code == 403
    assert admin_client_.get(f"{CHANGELIST}add/").status_code == 403


def action(client, name, events):
    return client.post(CHANGELIST, {"action": name, "_selected_action": [e.pk for e in events]}, follow=True)


def test_replay_needs_the_replay_permission(client, events, django_capture_on_commit_callbacks):
    failed = events["evt-100"]
    WebhookEvent.objects.filter(pk=failed.pk).update(status=Status.FAILED)
    staff(client, "view_webhookevent")
    page = client.get(CHANGELIST)
    assert "replay_selected" not in page.content.decode()
    action(client, "replay_selected", [failed])
    assert WebhookEvent.objects.get(pk=failed.pk).status == Status.FAILED

    client.logout()
    staff(client, "view_webhookevent", "replay_webhooks")
    with django_capture_on_commit_callbacks(execute=True):
        response = action(client, "replay_selected", [failed, events["rejected"]])
    text = response.content.decode()
    assert "1 webhook remis en file." in text
    assert "1 webhook non rejoué" in text
    assert WebhookEvent.objects.get(pk=failed.pk).status == Status.QUEUED
    assert WebhookEvent.objects.get(pk=events["rejected"].pk).status == Status.REJECTED


def test_mark_ignored_action(client, events):
    staff(client, "view_webhookevent", "replay_webhooks")
    waiting = events["evt-100"]
    response = action(client, "mark_selected_ignored", [waiting])
    assert "1 webhook marqué comme ignoré." in response.content.decode()
    assert WebhookEvent.objects.get(pk=waiting.pk).status == Status.IGNORED


def test_the_detail_page_replays_one_event_with_its_own_button(client, django_capture_on_commit_callbacks):
    connection = Connection.objects.create(provider="x", name="X", slug="x-replay")
    event = WebhookEvent.objects.create(connection=connection, provider="x", event_type="paid", body=b"{}",
                                        status=WebhookEvent.Status.FAILED, last_error="boom")
    auditor = User.objects.create_user("auditeur", is_staff=True)
    auditor.user_permissions.add(*Permission.objects.filter(codename__in=["view_webhookevent", "replay_webhooks"]))
    client.force_login(auditor)
    detail = reverse("admin:core_webhookevent_change", args=[event.pk])

    assert "Rejouer" in client.get(detail).content.decode()
    with django_capture_on_commit_callbacks(execute=False):
        response = client.post(reverse("admin:core_webhookevent_replay", args=[event.pk]))
    assert response.status_code == 302 and response["Location"] == detail
    event.refresh_from_db()
    assert event.status == WebhookEvent.Status.QUEUED


def test_the_replay_button_is_refused_without_the_permission(client):
    connection = Connection.objects.create(provider="x", name="X", slug="x-noreplay")
    event = WebhookEvent.objects.create(connection=connection, provider="x", event_type="paid", body=b"{}",
                                        status=WebhookEvent.Status.FAILED)
    viewer = User.objects.create_user("lecteur", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_webhookevent"))
    client.force_login(viewer)

    assert "Rejouer" not in client.get(reverse("admin:core_webhookevent_change", args=[event.pk])).content.decode()
    assert client.post(reverse("admin:core_webhookevent_replay", args=[event.pk])).status_code == 403
    event.refresh_from_db()
    assert event.status == WebhookEvent.Status.FAILED
