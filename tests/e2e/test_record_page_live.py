"""Journey (issue 10, point 6): a record page stays true while it is open, and says when it cannot.

Sacha keeps a draft quote open (served by a second web process, as behind a load balancer). Camille sends it
from her own window (an action): Sacha's page, never reloaded, shows the quote "Envoyé" and its Invoice Ninja
number. The client approves it in Invoice Ninja's portal (a webhook): the page shows "Accepté", "Convertir en
facture" becomes clickable and "Envoyer le devis" no longer is. Then Sacha's web process goes down (a deploy):
the page says "Mise à jour en direct interrompue — reconnexion…"; meanwhile Camille converts the quote. The
process comes back: the page reconnects by itself, the notice goes away and the page catches up with what it
missed ("Converti en facture"), still without a reload.
"""

import pytest
from playwright.sync_api import expect

from tests.e2e.browsing import (
    action_control,
    assert_not_navigated,
    log_in,
    mark_page,
    run_action,
    step,
    wait_for_live_record_field,
    wait_for_live_sockets,
)
from tests.e2e.invoiceninja_steps import OPEN_IN_INVOICE_NINJA, invoice_ninja_number, portal_row
from tests.e2e.records import draft_quote, staff_user

LIVE_LOST = "Mise à jour en direct interrompue — reconnexion…"
RECONNECT_MS = 30_000
SACHAS_WEB = "web-sacha"


@pytest.fixture
def sachas_web(console):
    """The web process serving Sacha's page (the console's own keeps serving Camille, the portal and webhooks)."""
    url = console.start_web(SACHAS_WEB)
    yield url
    console.remove(SACHAS_WEB)


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_an_open_quote_page_follows_actions_and_webhooks_and_catches_up_after_a_drop(browsing, console, demo,
                                                                                    sachas_web):
    quote = draft_quote()
    quote_path = f"/admin/hub/quote/{quote.pk}/change/"

    page = browsing.new_page()
    log_in(page, staff_user("sacha", "view_console", "send_documents"))
    page.goto(sachas_web + quote_path)  # the session cookie is the host's, whatever the port
    wait_for_live_sockets(page)
    mark_page(page)
    panel = page.locator(".invoiceninja-panel")
    expect(panel).to_contain_text("Pas encore dans Invoice Ninja")
    expect(page.get_by_text(LIVE_LOST)).to_be_hidden()
    step(page, "draft quote open")

    # A colleague sends the quote from her own window.
    colleague = browsing.new_page()
    log_in(colleague, staff_user("camille", "view_console", "send_documents"))
    colleague.goto(quote_path)
    run_action(colleague, "Envoyer le devis", confirm=True)
    step(colleague, "colleague sent the quote")

    wait_for_live_record_field(page, "status", "Envoyé")
    number = invoice_ninja_number(page)
    assert_not_navigated(page)
    step(page, "sent quote shown without reload")

    # The client approves the quote in Invoice Ninja's portal; Invoice Ninja tells the console (webhook).
    portal_url = panel.get_by_role("link", name=OPEN_IN_INVOICE_NINJA).get_attribute("href")
    portal = browsing.new_page()
    portal.goto(portal_url)
    portal_row(portal, "quote", number).get_by_role("button", name="Approuver").click()
    expect(portal_row(portal, "quote", number)).to_contain_text("Approuvé")
    step(portal, "client approved the quote")

    wait_for_live_record_field(page, "status", "Accepté")
    expect(action_control(page, "Convertir en facture"), '"Convertir en facture" never became clickable on the open '
           "page").to_be_enabled()
    expect(action_control(page, "Envoyer le devis"), '"Envoyer le devis" is still offered for an accepted quote'
           ).to_be_disabled()
    assert_not_navigated(page)
    step(page, "accepted quote shown without reload")

    # Sacha's web process goes down: the page says so. Meanwhile the colleague converts the quote.
    console.stop_process(SACHAS_WEB)
    expect(page.get_by_text(LIVE_LOST), "the page did not say its live updates were cut off").to_be_visible()
    step(page, "live updates cut off")
    colleague.reload()
    run_action(colleague, "Convertir en facture", confirm=True)

    # It comes back: the page reconnects by itself and shows what changed while it was cut off.
    console.start_again(SACHAS_WEB, sachas_web)
    # The page retries at most 5 s apart (live-status.js; htmx's own default grows to 64 s): back within seconds.
    expect(page.get_by_text(LIVE_LOST), "the page never said it was back after its web process came back"
           ).to_be_hidden(timeout=RECONNECT_MS)
    wait_for_live_record_field(page, "status", "Converti en facture")
    expect(action_control(page, "Convertir en facture"), "the converted quote still offers a conversion"
           ).to_be_disabled()
    assert_not_navigated(page)
    step(page, "caught up after reconnecting")
