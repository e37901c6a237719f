"""Journey 1: a staff member signs in; the console speaks French; its home shows each connection's health."""

import re
import time

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from tests.e2e.browsing import log_in, step
from tests.e2e.records import staff_user


def connection_card(page, name: str, label: str):
    """The innermost block of the home that names the connection and shows a health label."""
    return page.locator("section, article, li, tr, div").filter(has_text=name).filter(has_text=label).last


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_staff_signs_in_in_french_and_sees_each_connection_health(page, console):
    from apps.core.models import Connection

    connections = [
        Connection.objects.create(
            provider="invoiceninja", name="Invoice Ninja — Hypervisual", slug="e2e-invoiceninja",
            base_url=console.sandbox_url + "/sandbox/invoiceninja", last_ok_at=timezone.now(),
        ),
        Connection.objects.create(
            provider="revolut", name="Revolut — compte pro", slug="e2e-revolut",
            base_url=console.sandbox_url + "/sandbox/revolut", token_status=Connection.TokenStatus.RECONNECT_REQUIRED,
        ),
    ]
    user = staff_user("camille", "view_console")

    page.goto("/admin/")
    expect(page).to_have_url(re.compile(r"/admin/login/"))
    expect(page.locator("html"), "the login page is not in French").to_have_attribute("lang", "fr")
    expect(page.get_by_label(re.compile(r"^Nom d.utilisateur"))).to_be_visible()
    expect(page.get_by_role("button", name="Connexion")).to_be_visible()
    step(page, "login page in French")

    log_in(page, user)
    expect(page).to_have_url(re.compile(r"/admin/$"))
    expect(page.locator("html"), "the home is not in French").to_have_attribute("lang", "fr")
    expect(page.get_by_text(re.compile(r"Bienvenue"))).to_be_visible()
    step(page, "home")

    for connection in connections:
        # The scheduler may test a connection meanwhile: the page must show the health the database holds.
        deadline = time.monotonic() + 15
        while True:
            connection.refresh_from_db()
            card = connection_card(page, connection.name, str(connection.health_label))
            if card.count() or time.monotonic() > deadline:
                break
            page.reload()
        expect(card, f"no card naming {connection.name!r} with its health {connection.health_label!r}").to_be_visible()
    step(page, "connection health cards")
