""""Synchroniser maintenant" and the progress page: queued, never run in the request; one at a time."""

import django_rq
import pytest
from django.urls import reverse
from rq import SimpleWorker

from apps.core.models import SyncRun
from tests.core.action_doubles import make_user
from tests.core.sync_doubles import PagedMirror, PagedThings, items
from tests.core.sync_doubles import paged_connection, paged_mirror_table, paged_provider  # noqa: F401

pytestmark = pytest.mark.django_db

START = "/console/sync/start/"


@pytest.fixture
def operator(client):
    user = make_user("lea", "manage_connections", "view_console")
    client.force_login(user)
    return user


@pytest.fixture
def empty_sync_queue(redis_connection):
    django_rq.get_queue("sync").empty()


def test_the_start_view_queues_the_run_and_opens_its_progress_page(
    client, operator, paged_connection, django_capture_on_commit_callbacks, empty_sync_queue
):
    PagedThings.pages = [items(1, 2), items(3)]

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(START, {"connection": paged_connection.pk, "resource": "things"})

    run = SyncRun.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("core:sync_progress", args=[run.pk])
    assert run.status == SyncRun.Status.QUEUED and run.started_by == operator
    assert PagedThings.fetched == [] and not PagedMirror.objects.exists()  # nothing ran inside the request
    assert django_rq.get_queue("sync").count == 1

    queue = django_rq.get_queue("sync")
    SimpleWorker([queue], connection=queue.connection).work(burst=True)
    page = client.get(response["Location"]).content.decode()

    assert "Synchronisation lancée." in page
    assert "Terminée" in page and ">3<" in page  # added
    assert f'ws-connect="/ws/live/sync.{run.pk}/"' in page


def test_a_second_start_points_to_the_running_one(client, operator, paged_connection):
    first = client.post(START, {"connection": paged_connection.pk, "resource": "things"})
    second = client.post(START, {"connection": paged_connection.pk, "resource": "things", "full": "1"}, follow=True)

    run = SyncRun.objects.get()
    assert second.redirect_chain[-1][0] == first["Location"] == reverse("core:sync_progress", args=[run.pk])
    html = second.content.decode()
    assert "Synchronisation déjà en cours." in html
    assert f'<a href="/console/sync/{run.pk}/">Voir la synchronisation n° {run.pk}</a>' in html


def test_htmx_gets_a_client_redirect(client, operator, paged_connection):
    response = client.post(START, {"connection": paged_connection.pk, "resource": "things"}, HTTP_HX_REQUEST="true")

    assert response["HX-Redirect"] == reverse("core:sync_progress", args=[SyncRun.objects.get().pk])


def test_a_full_sync_is_requested_with_the_full_flag(client, operator, paged_connection):
    client.post(START, {"connection": paged_connection.pk, "resource": "things", "full": "on"})

    assert SyncRun.objects.get().kind == SyncRun.Kind.FULL


def test_bad_input_gets_a_readable_french_answer(client, operator, paged_connection):
    unknown_resource = client.post(START, {"connection": paged_connection.pk, "resource": "nothing"})
    unknown_connection = client.post(START, {"connection": "abc", "resource": "things"})

    assert unknown_resource.status_code == 400
    assert "Ressource « nothing » inconnue pour cette connexion." in unknown_resource.content.decode()
    assert unknown_connection.status_code == 404 and "Connexion introuvable." in unknown_connection.content.decode()
    assert not SyncRun.objects.exists()


def test_starting_needs_the_connections_capability(client, paged_connection):
    client.force_login(make_user("marc", "view_console"))

    response = client.post(START, {"connection": paged_connection.pk, "resource": "things"})

    assert response.status_code == 403 and "permission requise" in response.content.decode()
    assert not SyncRun.objects.exists()


def test_the_progress_fragment_polls_while_active_only(client, operator, paged_connection):
    client.post(START, {"connection": paged_connection.pk, "resource": "things"})
    run = SyncRun.objects.get()
    url = reverse("core:sync_progress_fragment", args=[run.pk])

    assert 'hx-trigger="every 5s"' in client.get(url).content.decode()
    SyncRun.objects.filter(pk=run.pk).update(status=SyncRun.Status.FAILED, error="HTTP 500 chez le fournisseur")
    html = client.get(url).content.decode()
    assert "every 5s" not in html and "HTTP 500 chez le fournisseur" in html and "Échec" in html


def test_the_sync_log_lists_runs_with_their_counts_and_a_link_to_follow_them(client, paged_connection):
    from django.contrib.auth.models import User

    client.force_login(User.objects.create_superuser("admin", "admin@example.test", None))
    run = SyncRun.objects.create(connection=paged_connection, resource="things", status="failed", added=12)

    html = client.get(reverse("admin:core_syncrun_changelist"), {"status__exact": "failed"}).content.decode()

    assert f'href="{reverse("core:sync_progress", args=[run.pk])}"' in html and ">12<" in html
    assert "Échec" in html
