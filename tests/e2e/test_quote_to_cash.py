"""Journey 2: quote to cash through Invoice Ninja, clicking what sales and accounting click.

Console: send the quote. Invoice Ninja (the sandbox's client portal): the client approves it. Console: the
quote is accepted (webhook), converted to an invoice, the invoice sent. Invoice Ninja: a payment is
recorded. Console: the invoice is paid.
"""

import pytest
from playwright.sync_api import expect

from tests.e2e.browsing import log_in, run_action, step, wait_for_record_status
from tests.e2e.invoiceninja_steps import OPEN_IN_INVOICE_NINJA, invoice_ninja_number, portal_row
from tests.e2e.records import draft_quote, staff_user


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_quote_to_cash_through_invoice_ninja(browsing, console, demo):
    from apps.hub.models import Invoice

    quote = draft_quote()
    user = staff_user("sacha", "view_console", "send_documents")
    page = browsing.new_page()
    log_in(page, user)

    page.goto(f"/admin/hub/quote/{quote.pk}/change/")
    run_action(page, "Envoyer le devis", confirm=True)
    step(page, "quote sent")
    wait_for_record_status(page, "Envoyé")
    quote_number = invoice_ninja_number(page)

    # The client, in Invoice Ninja's portal (the sandbox's), approves the quote.
    portal_url = page.get_by_role("link", name=OPEN_IN_INVOICE_NINJA).get_attribute("href")
    assert portal_url.startswith(console.sandbox_url + "/sandbox/invoiceninja/"), portal_url
    portal = browsing.new_page()
    portal.goto(portal_url)
    portal_row(portal, "quote", quote_number).get_by_role("button", name="Approuver").click()
    expect(portal_row(portal, "quote", quote_number)).to_contain_text("Approuvé")
    step(portal, "quote approved in invoice ninja")

    wait_for_record_status(page, "Accepté")
    step(page, "quote accepted in the console")
    run_action(page, "Convertir en facture", confirm=True)
    step(page, "quote converted")

    invoice = Invoice.objects.get(quote=quote)
    page.goto(f"/admin/hub/invoice/{invoice.pk}/change/")
    run_action(page, "Envoyer la facture", confirm=True)
    wait_for_record_status(page, "Envoyée")
    invoice_number = invoice_ninja_number(page)
    step(page, "invoice sent")

    # The client pays the whole balance; Invoice Ninja records the payment and tells the console.
    portal.goto(page.get_by_role("link", name=OPEN_IN_INVOICE_NINJA).get_attribute("href"))
    portal_row(portal, "invoice", invoice_number).get_by_role("button", name="Enregistrer un paiement").click()
    expect(portal_row(portal, "invoice", invoice_number)).to_contain_text("Payée")
    step(portal, "payment recorded in invoice ninja")

    wait_for_record_status(page, "Payée")
    step(page, "invoice paid in the console")
    invoice.refresh_from_db()
    assert invoice.amount_paid == invoice.total
    assert invoice.payments.count() == 1
