"""An open record page refreshes its status, panels and buttons when the record changes (apps.core.record_live).

The socket receives one small element per changed record and transaction, never one user's HTML; each page
then fetches its own version, which follows the record's permission like the page itself.
"""

import re

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.urls import reverse

from apps.core import live
from apps.core.models import Connection, TimelineEntry
from apps.hub.models import Company, Quote
from apps.invoiceninja.models import QuoteLink
from tests.core.action_doubles import make_user
from tests.core.test_live_socket import open_socket, session_cookie

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def pushed(monkeypatch):
    fragments = []
    original = live.push_html

    def recording(group, html):
        fragments.append((group, html))
        original(group, html)

    monkeypatch.setattr(live, "push_html", recording)
    return fragments


@pytest.fixture
def quote(db):
    company = Company.objects.create(name="Atelier Dupont", is_client=True)
    return Quote.objects.create(company=company, title="Refonte du site", status=Quote.Status.SENT)


@pytest.fixture
def connections(db):
    """The systems whose panels a quote shows (Invoice Ninja, DocuSeal)."""
    return [Connection.objects.create(provider=provider, name=name, slug=provider,
                                      base_url=f"https://{provider}.example.test")
            for provider, name in (("invoiceninja", "Invoice Ninja"), ("docuseal", "DocuSeal"))]


def group_of(record) -> str:
    return f"actions.{ContentType.objects.get_for_model(record).pk}.{record.pk}"


def live_state_url(record) -> str:
    return reverse("core:record_live_state", kwargs={
        "content_type_id": ContentType.objects.get_for_model(record).pk, "object_id": record.pk})


def received_while(cookie, group, change):
    """What a page listening to `group` receives while `change()` runs (then nothing more for half a second)."""
    async def scenario():
        socket = open_socket(f"/ws/live/{group}/", cookie)
        connected, _ = await socket.connect(timeout=5)
        assert connected
        await database_sync_to_async(change)()
        text = await socket.receive_from(timeout=5)
        nothing_more = await socket.receive_nothing(timeout=0.5)
        await socket.disconnect()
        return text, nothing_more

    return async_to_sync(scenario)()


@pytest.mark.django_db(transaction=True)
def test_a_status_changed_by_a_webhook_makes_the_open_page_fetch_its_own_fresh_pieces(client, quote, connections,
                                                                                      pushed, redis_connection):
    cookie = session_cookie(client, make_user("lea", "view_console"))
    TimelineEntry.record(quote, "Devis envoyé par Invoice Ninja.", provider="invoiceninja")

    def webhook_accepts_the_quote():
        with transaction.atomic():
            quote.status = Quote.Status.ACCEPTED
            quote.save()
            quote.save(update_fields=["updated_at"])

    text, nothing_more = received_while(cookie, group_of(quote), webhook_accepts_the_quote)
    assert nothing_more, "one refresh per record and transaction"
    assert f'hx-get="{live_state_url(quote)}"' in text
    assert re.search(r'hx-trigger="load\b', text)
    assert "Accepté" not in text, "the status comes with each page's own fetch, never pushed to every listener"

    state = client.get(live_state_url(quote), **HTMX)
    assert state.status_code == 200
    html = state.content.decode()
    assert re.search(r'hx-swap-oob="innerHTML:#quote_form[^"]*\.field-status[^"]*">Accepté</div>', html)
    assert f'id="action-bar-{ContentType.objects.get_for_model(quote).pk}-{quote.pk}"' in html
    key = f"{ContentType.objects.get_for_model(quote).pk}-{quote.pk}"
    assert re.search(rf'<section id="record-panel-{key}-\d+"[^>]*hx-swap-oob="true">\s*<h2>Invoice Ninja</h2>', html)
    assert "Signature électronique (DocuSeal)" not in html, "a panel pushed on its own keeps its place and socket"
    assert "Historique des échanges" not in html, "the timeline has its own push"

    resumed = client.get(live_state_url(quote) + "?resumed=1", **HTMX).content.decode()
    timeline = resumed.split('class="module console-timeline"', 1)[1]
    assert "Devis envoyé par Invoice Ninja." in timeline, "a page back from a dropped socket catches up its timeline"
    assert "Signature électronique (DocuSeal)" in resumed, "and on the panels that update themselves"


@pytest.mark.django_db(transaction=True)
def test_a_row_a_panel_reads_refreshes_its_record_page(client, quote, connections, pushed, redis_connection):
    connection = connections[0]
    cookie = session_cookie(client, make_user("lea", "view_console"))

    def first_sync_links_the_quote():
        QuoteLink.objects.create(connection=connection, quote=quote, external_id="Wpmbk5ezJn", number="D-0042")

    text, _ = received_while(cookie, group_of(quote), first_sync_links_the_quote)
    assert f'hx-get="{live_state_url(quote)}"' in text
    state = client.get(live_state_url(quote), **HTMX).content.decode()
    assert "Numéro Invoice Ninja" in state and "D-0042" in state


@pytest.mark.django_db(transaction=True)
def test_nothing_is_rendered_or_pushed_for_a_record_no_page_shows(quote, pushed, redis_connection):
    with transaction.atomic():
        quote.status = Quote.Status.ACCEPTED
        quote.save()
    assert pushed == []


@pytest.mark.django_db
def test_the_fresh_pieces_follow_the_record_permission(client, quote):
    client.force_login(make_user("sans_devis"))  # staff, but may not open quotes
    refused = client.get(live_state_url(quote), **HTMX)
    assert refused.status_code == 403
    html = refused.content.decode()
    assert "Vous n&#x27;avez pas accès à ce dossier." in html
    assert "Envoyé" not in html and "action-bar-" not in html

    client.force_login(make_user("lea", "view_console"))
    missing = client.get(reverse("core:record_live_state", kwargs={
        "content_type_id": ContentType.objects.get_for_model(quote).pk, "object_id": 999999}), **HTMX)
    assert missing.status_code == 404
    assert "Action ou dossier introuvable." in missing.content.decode()


@pytest.mark.django_db
def test_the_open_page_carries_what_it_refreshes_with(client, quote):
    client.force_login(make_user("lea", "view_console"))
    page = client.get(reverse("admin:hub_quote_change", args=[quote.pk])).content.decode()
    key = f"{ContentType.objects.get_for_model(quote).pk}-{quote.pk}"
    assert f'<div id="record-live-{key}" hidden></div>' in page
    assert re.search(rf'data-live-resume hx-get="{re.escape(live_state_url(quote))}\?resumed=1"', page)
    assert f'id="record-panel-{key}-1"' in page
    assert "Mise à jour en direct interrompue — reconnexion…" in page
