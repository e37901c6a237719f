"""Timeline pushes: once per record per transaction, and none for a record whose page nobody has open."""

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from django.db import transaction

from apps.core import live
from apps.core.models import TimelineEntry
from apps.hub.models import Company
from tests.core.action_doubles import make_user
from tests.core.test_live_socket import _company_type, open_socket, session_cookie

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def pushed(monkeypatch):
    fragments = []
    original = live.push_html

    def recording(group, html, by_language=None):
        fragments.append(group)
        original(group, html, by_language)

    monkeypatch.setattr(live, "push_html", recording)
    return fragments


def test_an_import_writing_many_entries_pushes_nothing_when_no_page_listens(pushed, redis_connection):
    companies = [Company.objects.create(name=f"Client {n}") for n in range(5)]
    with transaction.atomic():
        for company in companies:
            TimelineEntry.record(company, "Client importé depuis Invoice Ninja.", provider="invoiceninja")
            TimelineEntry.record(company, "Devis importé.", provider="invoiceninja")
    assert pushed == []


def test_a_listening_page_gets_one_fragment_per_transaction_with_every_entry(client, pushed, redis_connection):
    company = Company.objects.create(name="Atelier Dupont")
    other = Company.objects.create(name="Personne ne regarde")
    cookie = session_cookie(client, make_user("lea", "view_console"))
    group = f"actions.{_company_type()}.{company.pk}"

    def write_three_entries():
        with transaction.atomic():
            for message in ("Premier", "Deuxième", "Troisième"):
                TimelineEntry.record(company, message, provider="invoiceninja")
                TimelineEntry.record(other, message, provider="invoiceninja")

    async def scenario():
        socket = open_socket(f"/ws/live/{group}/", cookie)
        connected, _ = await socket.connect(timeout=5)
        assert connected
        await database_sync_to_async(write_three_entries)()
        text = await socket.receive_from(timeout=5)
        nothing_more = await socket.receive_nothing(timeout=0.5)
        await socket.disconnect()
        return text, nothing_more

    text, nothing_more = async_to_sync(scenario)()
    assert all(message in text for message in ("Premier", "Deuxième", "Troisième"))
    assert nothing_more
    assert pushed == [group]


def test_a_pushed_timeline_reads_in_the_listeners_language(client, redis_connection):
    from django.conf import settings
    from django.utils.translation import gettext_noop

    company = Company.objects.create(name="Atelier Dupont")
    cookie = session_cookie(client, make_user("bob", "view_console"))
    english = cookie + f"; {settings.LANGUAGE_COOKIE_NAME}=en".encode()
    group = f"actions.{_company_type()}.{company.pk}"

    def record_in_french():
        TimelineEntry.record(company, gettext_noop("Client importé depuis Invoice Ninja."), params={},
                             provider="invoiceninja")

    async def scenario():
        socket = open_socket(f"/ws/live/{group}/", english)
        connected, _ = await socket.connect(timeout=5)
        assert connected
        await database_sync_to_async(record_in_french)()
        text = await socket.receive_from(timeout=5)
        await socket.disconnect()
        return text

    text = async_to_sync(scenario)()
    assert "Client imported from Invoice Ninja." in text
    assert "Client importé" not in text
