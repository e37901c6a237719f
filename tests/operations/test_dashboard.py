"""The Exploitation page: operators only, figures coloured against the alert thresholds, "Relancer" that works once."""

from datetime import timedelta

from html import unescape

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rq import Queue, SimpleWorker
from rq.registry import FailedJobRegistry

from apps.core.capabilities import group_name
from apps.core.models import Connection, SyncRun, WebhookEvent

URL = "/console/exploitation/"


def page(response) -> str:
    return unescape(response.content.decode())


def explode():
    raise RuntimeError("Invoice Ninja a répondu 500 pendant la synchronisation")


@pytest.fixture
def operator(db):
    user = User.objects.create_user("exploitant", is_staff=True)
    user.groups.add(Group.objects.get(name=group_name("operate_queues")))
    return User.objects.get(pk=user.pk)


@pytest.fixture
def operator_client(client, operator):
    client.force_login(operator)
    return client


@pytest.fixture
def ninja(db):
    return Connection.objects.create(provider="invoiceninja", name="Ninja production", slug="ninja")


def failed_event(connection, key="evt-1"):
    event = WebhookEvent.objects.create(connection=connection, provider=connection.provider, event_type="quote.sent",
                                        provider_event_id=key, status=WebhookEvent.Status.FAILED, body=b"{}",
                                        attempts=3, last_error="KeyError: 'client_id'")
    return event


def test_anonymous_people_are_sent_to_the_login(client, db):
    response = client.get(URL)
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_staff_without_the_operations_capability_are_refused(client, db, ninja, redis_connection):
    event = failed_event(ninja)
    client.force_login(User.objects.create_user("stagiaire", is_staff=True))
    response = client.get(URL)
    assert response.status_code == 403
    assert "Vous n'avez pas la permission requise." in page(response)
    assert client.post(reverse("operations:replay_event", args=[event.pk])).status_code == 403
    event.refresh_from_db()
    assert event.status == WebhookEvent.Status.FAILED


def test_superusers_see_the_page(client, db, redis_connection):
    client.force_login(User.objects.create_superuser("root", "root@example.test", "pw"))
    assert client.get(URL).status_code == 200


def test_a_backlog_and_a_stale_sync_show_as_alerts(operator_client, ninja, redis_connection):
    for index, minutes in enumerate([7, 1]):
        row = WebhookEvent.objects.create(connection=ninja, provider="invoiceninja", event_type="quote.created",
                                          provider_event_id=f"w{index}", body=b"{}")
        WebhookEvent.objects.filter(pk=row.pk).update(received_at=timezone.now() - timedelta(minutes=minutes))
    SyncRun.objects.create(connection=ninja, resource="quotes", status=SyncRun.Status.SUCCEEDED,
                           finished_at=timezone.now() - timedelta(minutes=40))
    SyncRun.objects.create(connection=ninja, resource="invoices", status=SyncRun.Status.SUCCEEDED,
                           finished_at=timezone.now() - timedelta(minutes=2))

    html = page(operator_client.get(URL))

    assert 'class="ops-tile ops-error" data-figure="waiting"' in html
    assert "le plus ancien : 7 min" in html
    # No worker runs in the tests: the page says so in red.
    assert 'class="ops-tile ops-error" data-figure="workers"' in html
    syncs = html[html.index('id="ops-syncs"'):html.index('id="ops-connections"')]
    quotes = syncs[syncs.index("<td>quotes</td>"):]
    assert 'class="ops-error">40 min' in quotes[:300]
    invoices = syncs[syncs.index("<td>invoices</td>"):]
    assert 'class="ops-ok">2 min' in invoices[:300]


def test_a_quiet_console_is_green(operator_client, ninja, redis_connection):
    html = page(operator_client.get(URL))
    assert 'class="ops-tile ops-ok" data-figure="waiting"' in html
    assert "Aucune tâche en échec." in html
    assert "Aucun webhook en échec." in html


def test_a_failed_job_is_one_click_from_relancer_and_a_second_click_does_nothing(operator_client, redis_connection):
    queue = Queue("sync", connection=redis_connection)
    job = queue.enqueue(explode)
    SimpleWorker([queue], connection=redis_connection).work(burst=True)
    assert job.id in FailedJobRegistry(queue=queue).get_job_ids()

    html = page(operator_client.get(URL))
    assert "RuntimeError: Invoice Ninja a répondu 500 pendant la synchronisation" in html
    requeue_url = reverse("operations:requeue_job", args=["sync", job.id])
    assert f'action="{requeue_url}"' in html

    response = operator_client.post(requeue_url, follow=True)
    assert "Tâche remise dans la file « sync »." in page(response)
    assert job.id not in FailedJobRegistry(queue=queue).get_job_ids()
    assert queue.get_job_ids() == [job.id]

    again = operator_client.post(requeue_url, follow=True)
    assert "Cette tâche n'est plus en échec" in page(again)
    assert queue.get_job_ids() == [job.id]


def test_relancer_a_failed_webhook_replays_it_once(operator_client, ninja, redis_connection,
                                                    django_capture_on_commit_callbacks):
    event = failed_event(ninja)
    html = page(operator_client.get(URL))
    replay_url = reverse("operations:replay_event", args=[event.pk])
    assert f'action="{replay_url}"' in html
    assert "KeyError: 'client_id'" in html

    with django_capture_on_commit_callbacks(execute=True):
        response = operator_client.post(replay_url, follow=True)
    assert "remis en file" in page(response)
    event.refresh_from_db()
    assert event.status == WebhookEvent.Status.QUEUED
    assert Queue("webhooks", connection=redis_connection).count == 1

    again = operator_client.post(replay_url, follow=True)
    assert "n'est plus en échec" in page(again)
    assert Queue("webhooks", connection=redis_connection).count == 1


def test_relancer_needs_the_csrf_token(operator, ninja, redis_connection):
    event = failed_event(ninja)
    client = Client(enforce_csrf_checks=True)
    client.force_login(operator)
    assert client.post(reverse("operations:replay_event", args=[event.pk])).status_code == 403
    event.refresh_from_db()
    assert event.status == WebhookEvent.Status.FAILED


def test_an_unknown_queue_or_job_is_a_readable_answer(operator_client, redis_connection):
    assert operator_client.post(reverse("operations:requeue_job", args=["nope", "x"])).status_code == 404
    response = operator_client.post(reverse("operations:requeue_job", args=["sync", "no-such-job"]), follow=True)
    assert response.status_code == 200
    assert "Cette tâche n'est plus en échec" in page(response)


def test_redis_down_still_shows_the_database_figures(operator_client, ninja, monkeypatch):
    import redis

    from apps.operations import figures

    failed_event(ninja)
    dead = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    monkeypatch.setattr(figures, "redis_connection", lambda: dead)
    monkeypatch.setattr("apps.operations.middleware.redis_connection", lambda: dead)
    response = operator_client.get(URL)
    assert response.status_code == 200
    html = page(response)
    assert "Redis ne répond pas" in html
    assert "KeyError" in html


def test_the_page_reads_in_english(operator_client, ninja, redis_connection):
    failed_event(ninja)
    operator_client.cookies["django_language"] = "en"
    html = page(operator_client.get(URL))
    assert "Operations" in html
    assert "Failed webhooks" in html
    assert "Retry" in html
    assert "Relancer" not in html


def test_operators_find_the_page_from_the_console_home_and_others_do_not_see_the_link(client, operator,
                                                                                     redis_connection):
    client.force_login(operator)
    assert URL in page(client.get(reverse("admin:index")))
    client.force_login(User.objects.create_user("stagiaire", is_staff=True))
    assert URL not in page(client.get(reverse("admin:index")))
