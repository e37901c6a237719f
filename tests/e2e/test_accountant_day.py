"""Journey: a day of an accountant, in French then in English.

Agathe (accounts payable) asked for two payments above the approval threshold. Bruno (approver) logs in:
the header counts two payments to approve, the home page lists them with amount, supplier and requester.
He approves the first from the home page (fresh authenticator code; the payment goes out) and refuses the
second with a reason; Agathe opens that bill and reads who refused and why. Bruno types a French amount on a
bill ("1 234,56"): an ambiguous one ("1,234.56") is refused with a sentence, the French one is saved and
shown back "1 234,56 €" in the list. A quote form opened before Invoice Ninja sent the quote is refused with
what changed instead of putting the status back. Last, the same pages in English.
"""

import re
import threading
from decimal import Decimal

import pytest
from django.conf import settings
from playwright.sync_api import Page, expect

from tests.e2e.browsing import BACKGROUND_TIMEOUT_S, log_in, step, totp_code, wait_for_live_sockets
from tests.e2e.records import draft_quote, staff_user, supplier_bill
from tests.e2e.revolut_steps import connect_revolut

NNBSP, NBSP = "\u202f", "\xa0"


def ask_for_payment(bill, requester_name: str):
    """Agathe's click on "Payer via Revolut" (journey 4 walks it in the browser): the run waits for an approver."""
    from django.contrib.auth import get_user_model
    from django.db import connection

    from apps.core import actions
    from apps.core.models import ActionRun

    def start():
        # Its own thread: the browser's event loop runs in this one, and the start pushes to live pages.
        try:
            requester = get_user_model().objects.get(username=requester_name)
            started.append(actions.start(actions.get("revolut.pay_bill"), bill, requester, f"day-{bill.pk}")[0])
        finally:
            connection.close()

    started = []
    worker = threading.Thread(target=start)
    worker.start()
    worker.join()
    run = started[0]
    assert run.status == ActionRun.Status.PENDING_APPROVAL, run.message
    return run


def switch_language(page: Page, code: str) -> None:
    page.locator("#console-language-select").select_option(value=code)
    page.locator(".console-language button").click()
    page.wait_for_load_state()


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_day_of_an_accountant(browsing, console, demo):
    from apps.core.models import ActionRun
    from apps.hub.models import Quote, SupplierBill

    connect_revolut(browsing)
    amount = settings.PAYMENT_APPROVAL_THRESHOLD + Decimal("500.00")
    first = supplier_bill(amount, reference="FAC-DURAND-3001")
    second = SupplierBill.objects.create(supplier=first.supplier, reference="FAC-DURAND-3002",
                                         description="Affiches", amount=amount + Decimal("0.40"), currency="EUR")
    requester = staff_user("agathe", "view_console", "pay_suppliers")
    approver = staff_user("bruno", "view_console", "approve_payments", "pay_suppliers")
    approved_run, refused_run = ask_for_payment(first, "agathe"), ask_for_payment(second, "agathe")

    # Bruno's home: the count in the header and what waits for him, before the system cards.
    page = browsing.new_page()
    log_in(page, approver)
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/admin/$"))
    expect(page.locator(".console-approvals-badge")).to_have_text("2 paiements à approuver")
    to_do = page.locator("#a-approuver")
    shown_amount = f"1{NNBSP}500,00{NBSP}€"
    expect(to_do.locator(f"#action-run-{approved_run.pk}")).to_contain_text(shown_amount)
    first_item = to_do.locator("article").filter(has=page.locator(f"#action-run-{approved_run.pk}"))
    expect(first_item.locator("h3")).to_contain_text("FAC-DURAND-3001 — Imprimerie Durand")
    expect(to_do.locator(f"#action-run-{approved_run.pk}")).to_contain_text("agathe")
    expect(to_do.locator(f"#action-run-{approved_run.pk}")).to_contain_text("au-delà du seuil")
    step(page, "home with payments to approve")

    # He approves the first from the home page, with a fresh code; the payment goes out, in place.
    wait_for_live_sockets(page)
    box = page.locator(f"#action-run-{approved_run.pk}")
    box.get_by_label(re.compile(r"^Nouveau code")).fill(totp_code(approver))
    box.get_by_role("button", name="Approuver").click()
    expect(box).to_contain_text("Approuvé par bruno")
    expect(box, "the approved payment was not sent").to_contain_text("Réussie", timeout=BACKGROUND_TIMEOUT_S * 1000)
    step(page, "first payment approved from home")

    # He refuses the second, with a reason.
    box = page.locator(f"#action-run-{refused_run.pk}")
    box.get_by_label(re.compile(r"^Motif du refus")).fill("Montant à vérifier avec Durand")
    box.get_by_role("button", name="Refuser").click()
    expect(box).to_contain_text("Refusée")
    expect(box).to_contain_text("Refusé par bruno : Montant à vérifier avec Durand")
    step(page, "second payment refused with a reason")
    refused_run.refresh_from_db()
    assert refused_run.status == ActionRun.Status.REFUSED
    page.reload()
    expect(page.locator(".console-approvals-badge"), "the header still counts handled approvals").to_have_count(0)

    # Agathe opens the refused bill: back to "À payer", and the refusal with its reason on the timeline.
    requester_page = browsing.new_page()
    log_in(requester_page, requester)
    requester_page.goto(f"/admin/hub/supplierbill/{second.pk}/change/")
    expect(requester_page.locator(".field-status .readonly")).to_have_text("À payer")
    expect(requester_page.locator(".console-timeline")).to_contain_text(
        "Refusé par bruno : Montant à vérifier avec Durand")
    step(requester_page, "requester reads the refusal on the bill")

    # A French amount, typed and shown back; an ambiguous one refused with a sentence.
    page.goto(f"/admin/hub/supplierbill/{second.pk}/change/")
    page.locator("#id_amount").fill("1,234.56")
    page.get_by_role("button", name="Enregistrer", exact=True).click()
    expect(page.locator(".errorlist")).to_contain_text("n'est pas un nombre lisible sans ambiguïté")
    step(page, "ambiguous amount refused")
    page.locator("#id_amount").fill("1 234,56")
    page.get_by_role("button", name="Enregistrer", exact=True).click()
    expect(page.locator(".messagelist")).to_contain_text("modifié avec succès")
    second.refresh_from_db()
    assert second.amount == Decimal("1234.56"), f"'1 234,56' was saved as {second.amount}"
    row = page.locator("#result_list tr").filter(has_text="FAC-DURAND-3002")
    expect(row).to_contain_text(f"1{NNBSP}234,56{NBSP}€")
    step(page, "french amount shown back in the list")
    page.goto(f"/admin/hub/supplierbill/{second.pk}/change/")
    expect(page.locator("#id_amount")).to_have_value("1 234,56")

    # A quote form opened before Invoice Ninja sent the quote does not put it back to "Brouillon".
    quote = draft_quote()
    sales = browsing.new_page()  # quotes are the sales team's records
    log_in(sales, staff_user("sacha", "view_console", "send_documents"))
    sales.goto(f"/admin/hub/quote/{quote.pk}/change/")
    Quote.objects.filter(pk=quote.pk).update(status=Quote.Status.SENT, number="Q-0042")  # the send, meanwhile
    sales.locator("#id_title").fill("Refonte du site vitrine et boutique")
    sales.get_by_role("button", name="Enregistrer", exact=True).click()
    expect(sales.locator(".errorlist.nonfield")).to_contain_text("modifié depuis l'ouverture")
    expect(sales.locator(".errorlist.nonfield")).to_contain_text("Statut : « Brouillon » → « Envoyé »")
    quote.refresh_from_db()
    assert (quote.status, quote.title) == (Quote.Status.SENT, "Refonte du site vitrine"), "the older form overwrote"
    step(sales, "stale quote form refused with what changed")

    # The same pages in English (the language is the user's choice, kept in their session).
    page.goto("/admin/")
    switch_language(page, "en")
    step(page, "home in english")
    page.goto(f"/admin/hub/supplierbill/{second.pk}/change/")
    expect(page.locator("#id_amount")).to_have_value("1234.56")
    step(page, "bill in english")
    page.goto("/admin/hub/supplierbill/")
    step(page, "bill list in english")
    page.goto("/admin/no-such-page/")
    step(page, "not found in english")
    switch_language(sales, "en")
    sales.goto(f"/admin/hub/quote/{quote.pk}/change/")
    step(sales, "sent quote in english")
    switch_language(sales, "fr")
    sales.goto(f"/admin/hub/quote/{quote.pk}/change/")
    expect(sales.locator(".console-lock-notice")).to_contain_text("ses lignes sont verrouillées")
    step(sales, "sent quote in french")
    page.goto("/admin/")
    switch_language(page, "fr")
    page.goto(f"/admin/hub/supplierbill/{second.pk}/change/")
    step(page, "bill in french")
    page.goto("/admin/no-such-page/")
    step(page, "not found in french")
