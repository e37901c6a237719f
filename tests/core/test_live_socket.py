"""The live socket: only active staff with the group's permission may listen, and they get pushed fragments.

The sockets go through config.asgi.application (origin check, session auth, routing), with the session
cookie of a user logged in through the test client. Transactional: the consumer reads the session and
the user from its own database connection.
"""

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async

from apps.core.models import ActionRun, Connection, SyncRun, TimelineEntry
from apps.core.signals import action_run_changed, sync_run_progressed
from apps.hub.models import Company
from tests.core.action_doubles import make_user
from tests.live_socket import ORIGIN, LiveSocket, socket_headers

pytestmark = pytest.mark.django_db(transaction=True)


def session_cookie(client, user):
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}".encode()


def open_socket(path, cookie=b"", origin=ORIGIN):
    return LiveSocket(path, socket_headers(cookie, origin))


def accepted(path, cookie=b"", origin=ORIGIN) -> bool:
    async def scenario():
        communicator = open_socket(path, cookie, origin)
        connected, _ = await communicator.connect(timeout=5)
        await communicator.disconnect()
        return connected

    return async_to_sync(scenario)()


def receive_after(path, cookie, push):
    """Connect, run `push` (sync, with database access), return the text the socket received."""

    async def scenario():
        communicator = open_socket(path, cookie)
        connected, _ = await communicator.connect(timeout=5)
        assert connected
        await database_sync_to_async(push)()
        text = await communicator.receive_from(timeout=5)
        await communicator.disconnect()
        return text

    return async_to_sync(scenario)()


@pytest.fixture
def sync_run(db):
    connection = Connection.objects.create(provider="kerneluipaged", name="Paginé", slug="pagine")
    return SyncRun.objects.create(connection=connection, resource="things", pages=2, added=7)


def test_anonymous_sockets_are_refused(sync_run):
    assert not accepted(f"/ws/live/sync.{sync_run.pk}/")


def test_non_staff_users_are_refused_even_with_the_permission(client, sync_run):
    cookie = session_cookie(client, make_user("client", "view_console", is_staff=False))

    assert not accepted(f"/ws/live/sync.{sync_run.pk}/", cookie)


def test_staff_without_the_group_permission_are_refused(client, sync_run):
    cookie = session_cookie(client, make_user("stagiaire"))

    assert not accepted(f"/ws/live/sync.{sync_run.pk}/", cookie)


def test_undeclared_groups_and_foreign_origins_are_refused(client, sync_run):
    cookie = session_cookie(client, make_user("lea", "view_console"))

    assert not accepted("/ws/live/secrets.1/", cookie)
    assert not accepted("/ws/live/SYNC.1/", cookie)
    assert not accepted(f"/ws/live/sync.{sync_run.pk}/", cookie, origin=b"https://attaquant.example")
    assert accepted(f"/ws/live/sync.{sync_run.pk}/", cookie)


def test_staff_with_the_permission_receive_the_sync_progress(client, sync_run):
    cookie = session_cookie(client, make_user("lea", "view_console"))

    text = receive_after(
        f"/ws/live/sync.{sync_run.pk}/", cookie, lambda: sync_run_progressed.send(sender=SyncRun, run=sync_run)
    )

    assert f'id="sync-run-{sync_run.pk}"' in text and 'hx-swap-oob="true"' in text
    assert "Paginé" in text and "things" in text and ">7<" in text


def test_whoever_may_open_the_record_hears_its_action_run_change(client):
    company = Company.objects.create(name="Atelier Dupont")
    lea = make_user("lea", "view_console")
    run = ActionRun.objects.create(
        action="kerneluitest.greet", label="Envoyer un bonjour", content_type_id=_company_type(), object_id=company.pk,
        user=lea, idempotency_key="k" * 32, status=ActionRun.Status.SUCCEEDED, message="Bonjour envoyé",
    )
    cookie = session_cookie(client, lea)

    text = receive_after(
        f"/ws/live/actions.{_company_type()}.{company.pk}/", cookie,
        lambda: action_run_changed.send(sender=ActionRun, run=run),
    )

    assert f'id="action-run-{run.pk}"' in text and "Bonjour envoyé" in text
    assert f'id="timeline-{_company_type()}-{company.pk}"' in text
    assert f'id="action-result-{_company_type()}-{company.pk}"' in text and 'hx-swap-oob="innerHTML"' in text
    assert text.count('hx-swap-oob="true"') == 2  # timeline, request for fresh buttons

    text = receive_after(
        f"/ws/live/actions.{_company_type()}.{company.pk}/", cookie,
        lambda: TimelineEntry.record(company, "Devis signé chez DocuSeal", provider="docuseal"),
    )
    assert f'id="timeline-{_company_type()}-{company.pk}"' in text and "Devis signé chez DocuSeal" in text


def _company_type():
    from django.contrib.contenttypes.models import ContentType

    return ContentType.objects.get_for_model(Company).pk
