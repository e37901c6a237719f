"""Journey: quote to cash with only the two human steps, the rest run by the automations.

Console: sales send the draft quote for signature (DocuSeal; Invoice Ninja records it first, numbered, without
an e-mail of its own). DocuSeal (the sandbox's signing page): the client signs. Then nobody clicks: the quote is
approved in Invoice Ninja, converted, and the invoice sent, each an "Automatique" step on the timelines, with its
cause. Invoice Ninja (the sandbox's portal): the client pays. Console: the invoice is paid, with Invoice Ninja's
payment, once; no further Mautic reminder may go; the automations page lists the chain done.
"""

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.browsing import action_control, log_in, run_action, step, wait_for_record_status
from tests.e2e.invoiceninja_steps import OPEN_IN_INVOICE_NINJA, invoice_ninja_number, portal_row
from tests.e2e.records import draft_quote, staff_user

BACKGROUND_MS = 45_000
REMINDER = "Envoyer relance Mautic"


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_signed_quote_is_invoiced_sent_and_closed_when_paid_without_a_click(browsing, console, demo):
    from apps.automations.models import Chain
    from apps.hub.models import Invoice

    quote = draft_quote()
    user = staff_user("sacha", "view_console", "send_documents", "send_emails")
    page = browsing.new_page()
    log_in(page, user)
    page.goto(f"/admin/hub/quote/{quote.pk}/change/")
    wait_for_record_status(page, "Brouillon")
    run_action(page, "Envoyer pour signature", confirm=True)
    wait_for_record_status(page, "Envoyé")
    expect(page.locator(".console-timeline")).to_contain_text("enregistré dans Invoice Ninja et marqué envoyé")
    link = page.locator(".docuseal-panel").get_by_role("link", name="Ouvrir le lien de signature")
    expect(link, "the signing link never appeared").to_be_visible(timeout=BACKGROUND_MS)
    signer = browsing.new_page()
    signer.goto(link.get_attribute("href"))
    signer.get_by_label("Signature (tapez votre nom)").fill("Claire Martin")
    signer.get_by_role("button", name="Signer et terminer").click()
    expect(signer.locator("#form-status")).to_contain_text("Vous avez signé")
    step(signer, "signed in docuseal")

    # Nobody clicks from here: signed -> approved -> converted -> invoice sent.
    wait_for_record_status(page, "Converti en facture", timeout=90)
    expect(page.locator(".console-timeline")).to_contain_text("Automatique — Convertir en facture")
    converted = page.locator(".console-timeline tr", has_text="Automatique — Convertir en facture")
    expect(converted.locator("td").nth(1)).to_contain_text(re.compile(r"^Automatique\s*Cause :\s+webhook DocuSeal"))
    expect(converted.get_by_role("link", name=re.compile("webhook DocuSeal"))).to_have_count(1)
    step(page, "quote converted by the automation")
    invoice = Invoice.objects.get(quote=quote)
    page.goto(f"/admin/hub/invoice/{invoice.pk}/change/")
    wait_for_record_status(page, "Envoyée", timeout=90)
    expect(page.locator(".console-timeline")).to_contain_text("Automatique — Envoyer la facture")
    invoice_number = invoice_ninja_number(page)
    expect(action_control(page, REMINDER)).not_to_have_accessible_description(re.compile("payée"))
    step(page, "invoice sent by the automation")

    portal = browsing.new_page()
    portal.goto(page.get_by_role("link", name=OPEN_IN_INVOICE_NINJA).get_attribute("href"))
    portal_row(portal, "invoice", invoice_number).get_by_role("button", name="Enregistrer un paiement").click()
    expect(portal_row(portal, "invoice", invoice_number)).to_contain_text("Payée")
    step(portal, "client paid in invoice ninja")

    wait_for_record_status(page, "Payée")
    # Reminders stopped: Mautic's panel and the reminder button say no reminder may go for a paid invoice.
    page.reload()
    expect(page.locator("#mautic-invoice-panel")).to_contain_text("Relances arrêtées : facture payée")
    expect(action_control(page, REMINDER)).to_be_disabled()
    expect(action_control(page, REMINDER)).to_have_accessible_description(re.compile("La facture est payée"))
    step(page, "paid: no further reminder")
    invoice.refresh_from_db()
    assert invoice.amount_paid == invoice.total and invoice.payments.count() == 1
    chain = Chain.objects.get(rule="quote_signed", object_id=str(quote.pk))
    assert chain.status == Chain.Status.SUCCEEDED and "DocuSeal" in chain.cause
    page.goto("/automations/")
    expect(page.locator("#rule-quote_signed")).to_contain_text("Terminée")
    step(page, "paid everywhere, the chain listed done")
