"""Journey 2: quote to cash through Invoice Ninja, clicking what sales and accounting click.

Console: send the quote. Invoice Ninja (sandbox portal): the client approves it. Console: the quote is
accepted (webhook), converted to an invoice, the invoice sent. Invoice Ninja: a payment is recorded.
Console: the invoice is paid.
"""

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.browsing import log_in, run_action, sandbox_link, step, wait_for_record_status
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
    expect(page.get_by_text(quote.company.name).first).to_be_visible()
    run_action(page, "Envoyer le devis", confirm=True)
    step(page, "quote sent")
    wait_for_record_status(page, "Envoyé")

    # The client, in Invoice Ninja's portal (the sandbox's), approves the quote.
    portal = browsing.new_page()
    portal.goto(sandbox_link(page, console.sandbox_url, "invoiceninja", prefer=("quote",)))
    portal.get_by_role("button", name=re.compile(r"^Approuver")).click()
    step(portal, "quote approved in invoice ninja")

    wait_for_record_status(page, "Accepté")
    step(page, "quote accepted in the console")
    run_action(page, "Convertir en facture", confirm=False)
    step(page, "quote converted")

    invoice = Invoice.objects.get(quote=quote)
    page.goto(f"/admin/hub/invoice/{invoice.pk}/change/")
    run_action(page, "Envoyer la facture", confirm=True)
    wait_for_record_status(page, "Envoyée")
    step(page, "invoice sent")

    # The client pays; Invoice Ninja records the payment and tells the console.
    portal.goto(sandbox_link(page, console.sandbox_url, "invoiceninja", prefer=("invoice",)))
    portal.get_by_role("button", name=re.compile(r"^Enregistrer un paiement")).click()
    submit = portal.get_by_role("button", name=re.compile(r"^(Confirmer|Enregistrer|Valider)$"))
    if submit.count():  # a payment form (amount, date) after the first click
        submit.first.click()
    step(portal, "payment recorded in invoice ninja")

    wait_for_record_status(page, "Payée")
    step(page, "invoice paid in the console")
    invoice.refresh_from_db()
    assert invoice.amount_paid == invoice.total
