"""Journey: a day of an accountant, in French then in English.

Agathe (accounts payable) asked for two payments above the approval threshold. Bruno (approver) logs in. He finds
an invoice a client calls about by typing its number in the header search, then, from the home page's to-do
("3 factures en retard": two of the month, the demo's dunning one), opens the overdue invoices and exports them
to CSV: the file holds the overdue invoices only, French headers, amounts as a French spreadsheet reads them.
The header counts two payments to approve, the home page lists them with amount, supplier and requester.
He approves the first from the home page (fresh authenticator code; the payment goes out) and refuses the
second with a reason; Agathe opens that bill and reads who refused and why. Bruno types a French amount on a
bill ("1 234,56"): an ambiguous one ("1,234.56") is refused with a sentence, the French one is saved and
shown back "1 234,56 €" in the list. A quote form opened before Invoice Ninja sent the quote is refused with
what changed instead of putting the status back. Last, the same pages in English.
"""

import csv
import io
import re
import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from playwright.sync_api import Page, expect

from tests.e2e.browsing import BACKGROUND_TIMEOUT_S, log_in, step, totp_code, wait_for_live_sockets
from tests.e2e.records import client_company, draft_quote, staff_user, supplier_bill
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


def invoices_of_the_month():
    """Two invoices past their due date (one partly paid), one not yet due, one paid late: two are overdue."""
    from django.utils import timezone

    from apps.hub.models import Company, Invoice

    today = timezone.localdate()
    lumiere, bistrot = client_company(), Company.objects.create(name="Bistrot du Port", is_client=True)

    def invoice(company, number, status, due_in_days, total, paid="0"):
        return Invoice.objects.create(
            company=company, number=number, title="Prestations de novembre", status=status,
            issue_date=today - timedelta(days=40), due_date=today + timedelta(days=due_in_days),
            subtotal=(Decimal(total) / Decimal("1.2")).quantize(Decimal("0.01")),
            tax_total=Decimal(total) - (Decimal(total) / Decimal("1.2")).quantize(Decimal("0.01")),
            total=Decimal(total), amount_paid=Decimal(paid))

    overdue = [invoice(lumiere, "FA-2026-0107", Invoice.Status.SENT, -20, "1200.40"),
               invoice(bistrot, "FA-2026-0112", Invoice.Status.PARTIAL, -5, "3000.00", paid="1000.00")]
    invoice(lumiere, "FA-2026-0120", Invoice.Status.SENT, 10, "480.00")
    invoice(bistrot, "FA-2026-0099", Invoice.Status.PAID, -40, "96.00", paid="96.00")
    return overdue


def switch_language(page: Page, code: str) -> None:
    page.locator("#console-language-select").select_option(value=code)
    page.locator(".console-language button").click()
    page.wait_for_load_state()


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_day_of_an_accountant(browsing, console, demo):
    from apps.core.models import ActionRun
    from apps.hub.models import Invoice, Quote, SupplierBill

    connect_revolut(browsing)
    amount = settings.PAYMENT_APPROVAL_THRESHOLD + Decimal("500.00")
    first = supplier_bill(amount, reference="FAC-DURAND-3001")
    second = SupplierBill.objects.create(supplier=first.supplier, reference="FAC-DURAND-3002",
                                         description="Affiches", amount=amount + Decimal("0.40"), currency="EUR")
    requester = staff_user("agathe", "view_console", "pay_suppliers")
    approver = staff_user("bruno", "view_console", "approve_payments", "pay_suppliers")
    approved_run, refused_run = ask_for_payment(first, "agathe"), ask_for_payment(second, "agathe")
    late, partly_paid = invoices_of_the_month()

    page = browsing.new_page()
    log_in(page, approver)

    # A client calls about an invoice: Bruno types its number in the header search and opens it.
    search = page.get_by_role("search").get_by_role("searchbox")
    search.fill("FA-2026-0107")
    search.press("Enter")
    invoices_found = page.get_by_role("region", name="Factures", exact=True)
    expect(invoices_found.get_by_role("link")).to_have_text(["FA-2026-0107"])
    expect(invoices_found).to_contain_text("Atelier Lumière SARL")
    step(page, "invoice found from the header search")
    invoices_found.get_by_role("link", name="FA-2026-0107").click()
    expect(page).to_have_url(re.compile(rf"/admin/hub/invoice/{late.pk}/change/$"))
    expect(page.locator(".field-status .readonly")).to_have_text("Envoyée")

    # The home's to-do counts the overdue invoices and opens their list; he exports it to CSV.
    overdue = set(Invoice.objects.overdue().values_list("number", flat=True))  # the demo's dunning invoice too
    assert {"FA-2026-0107", "FA-2026-0112"} <= overdue and not {"FA-2026-0120", "FA-2026-0099"} & overdue
    page.goto("/admin/")
    overdue_block = page.locator("#a-faire-factures")
    to_do_line = f"{len(overdue)} factures en retard"
    expect(overdue_block.get_by_role("heading")).to_have_text(to_do_line)
    expect(page.locator("#a-faire")).to_be_visible()
    assert page.locator("#a-faire").bounding_box()["y"] < page.locator(".console-cards").bounding_box()["y"], (
        "the to-do comes before the system cards")
    step(page, "home to-do with overdue invoices")
    overdue_block.get_by_role("link", name=to_do_line).click()
    expect(page.locator("#result_list tbody tr")).to_have_count(len(overdue))
    with page.expect_download() as downloading:
        page.get_by_role("link", name="Exporter en CSV").click()
    download = downloading.value
    assert re.fullmatch(r"factures-\d{4}-\d{2}-\d{2}\.csv", download.suggested_filename), download.suggested_filename
    text = open(download.path(), encoding="utf-8-sig").read()
    header, *rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    assert header == ["Numéro", "Client", "Objet", "Statut", "Date", "Échéance", "Total HT", "TVA", "Total TTC",
                      "Montant payé", "Reste dû", "Devise"]
    exported = {row[0]: dict(zip(header, row)) for row in rows}
    assert set(exported) == overdue, "the export is the overdue invoices, and only them"
    assert exported["FA-2026-0107"]["Total TTC"] == "1200,40" and exported["FA-2026-0107"]["Reste dû"] == "1200,40"
    assert exported["FA-2026-0112"]["Montant payé"] == "1000,00" and exported["FA-2026-0112"]["Reste dû"] == "2000,00"
    assert exported["FA-2026-0112"]["Statut"] == "Partiellement payée"
    assert exported["FA-2026-0107"]["Échéance"] == f"{late.due_date:%d/%m/%Y}"
    assert exported["FA-2026-0107"]["Client"] == "Atelier Lumière SARL"
    step(page, "overdue invoices exported")

    # Bruno's home: the count in the header and what waits for him, before the system cards.
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
    search = page.get_by_role("search").get_by_role("searchbox")
    search.fill("FA-2026-0107")
    search.press("Enter")
    expect(page.get_by_role("region", name="Invoices", exact=True)).to_contain_text("€1,200.40")
    step(page, "invoice found from the header search in english")
    page.goto(f"/admin/hub/invoice/{late.pk}/change/")
    expect(page.locator(".field-status .readonly")).to_have_text("Sent")
    step(page, "invoice in english")
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
