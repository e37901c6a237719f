"""CSV export of the hub lists: the filtered list as it is shown, read by a French spreadsheet as it should be."""

import csv
import html
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission, User
from django.urls import reverse
from django.utils import timezone

from apps.hub.models import Company, Invoice, Payment, SupplierBill
from tests.core.action_doubles import make_user

pytestmark = pytest.mark.django_db


def read_csv(response):
    assert response.status_code == 200, response.content[:300]
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    raw = response.content
    assert raw.startswith(b"\xef\xbb\xbf"), "no BOM: Excel reads the accents of a BOM-less UTF-8 file as garbage"
    return list(csv.reader(io.StringIO(raw.decode("utf-8-sig")), delimiter=";"))


@pytest.fixture
def invoices():
    today = timezone.localdate()
    martin = Company.objects.create(name="Boulangerie Martin")
    durand = Company.objects.create(name="Imprimerie Durand")
    late = Invoice.objects.create(company=martin, number="FA-101", title="Pain de mie", status=Invoice.Status.SENT,
                                  issue_date=today - timedelta(days=45), due_date=today - timedelta(days=15),
                                  subtotal=Decimal("1000.34"), tax_total=Decimal("200.06"),
                                  total=Decimal("1200.40"))
    partly = Invoice.objects.create(company=durand, number="FA-102", status=Invoice.Status.PARTIAL,
                                    issue_date=today - timedelta(days=40), due_date=today - timedelta(days=10),
                                    total=Decimal("3000.00"), amount_paid=Decimal("1000.00"))
    Invoice.objects.create(company=martin, number="FA-103", status=Invoice.Status.SENT,
                           due_date=today + timedelta(days=20), total=Decimal("80.00"))  # not yet due
    Invoice.objects.create(company=martin, number="FA-104", status=Invoice.Status.PAID,
                           due_date=today - timedelta(days=30), total=Decimal("50.00"))  # late but paid
    return late, partly


def test_the_overdue_filter_lists_only_sent_or_partly_paid_invoices_past_their_due_date(admin_client, invoices):
    page = admin_client.get(reverse("admin:hub_invoice_changelist"), {"en_retard": "oui"})
    assert {invoice.number for invoice in page.context["cl"].result_list} == {"FA-101", "FA-102"}
    assert "En retard" in page.content.decode()


def test_the_invoice_export_is_the_filtered_list_with_french_headers_and_spreadsheet_amounts(admin_client, invoices):
    late, _partly = invoices
    listed = admin_client.get(reverse("admin:hub_invoice_changelist"), {"en_retard": "oui"}).content.decode()
    assert "Exporter en CSV" in listed
    assert f'{reverse("admin:hub_invoice_export")}?en_retard=oui' in listed  # the link keeps the filter

    by_due_date = {"en_retard": "oui", "o": "5"}  # the list's own sort (default: newest first) is followed
    rows = read_csv(admin_client.get(reverse("admin:hub_invoice_export"), by_due_date))
    header, *lines = rows
    assert header == ["Numéro", "Client", "Objet", "Statut", "Date", "Échéance", "Total HT", "TVA", "Total TTC",
                      "Montant payé", "Reste dû", "Devise"]
    assert [line[0] for line in lines] == ["FA-101", "FA-102"]
    first = dict(zip(header, lines[0]))
    # A French spreadsheet reads "1200,40" as a number: decimal comma, no thousands separator, no currency sign.
    assert first["Total TTC"] == "1200,40" and first["Total HT"] == "1000,34" and first["TVA"] == "200,06"
    assert first["Reste dû"] == "1200,40" and first["Montant payé"] == "0,00"
    assert first["Échéance"] == (late.due_date).strftime("%d/%m/%Y")
    assert first["Client"] == "Boulangerie Martin" and first["Statut"] == "Envoyée"
    assert dict(zip(header, lines[1]))["Reste dû"] == "2000,00"


def test_the_export_follows_the_list_search_too(admin_client, invoices):
    rows = read_csv(admin_client.get(reverse("admin:hub_invoice_export"), {"q": "Durand"}))
    assert [line[0] for line in rows[1:]] == ["FA-102"]


def test_only_people_who_may_see_the_list_may_export_it(client, invoices):
    client.force_login(make_user("fournisseurs", "pay_suppliers"))  # bills and companies, not client invoices
    assert client.get(reverse("admin:hub_invoice_export")).status_code == 403
    assert client.get(reverse("admin:hub_supplierbill_export")).status_code == 200

    client.force_login(make_user("lecture", "view_console"))
    assert read_csv(client.get(reverse("admin:hub_invoice_export")))[0][0] == "Numéro"


def test_the_payment_and_bill_exports_read_the_same_way(admin_client):
    supplier = Company.objects.create(name="Imprimerie Durand", is_supplier=True, iban="FR7630006000011234567890189")
    bill = SupplierBill.objects.create(supplier=supplier, reference="FAC-3001", amount=Decimal("1234.56"),
                                       status=SupplierBill.Status.PAID)
    Payment.objects.create(direction=Payment.Direction.OUTGOING, supplier_bill=bill, amount=Decimal("1234.56"),
                           source="revolut", external_id="tx-7f3a", date=timezone.localdate())

    header, line = read_csv(admin_client.get(reverse("admin:hub_payment_export")))
    payment = dict(zip(header, line))
    assert payment["Montant"] == "1234,56" and payment["Sens"] == "Décaissement"
    assert payment["Identifiant externe"] == "tx-7f3a"
    assert payment["Facture fournisseur"] == "FAC-3001 — Imprimerie Durand"

    header, line = read_csv(admin_client.get(reverse("admin:hub_supplierbill_export")))
    assert dict(zip(header, line))["Montant TTC"] == "1234,56"
    assert dict(zip(header, line))["Statut"] == "Payée"

    header, line = read_csv(admin_client.get(reverse("admin:hub_company_export")))
    assert "FR7630006000011234567890189" not in ";".join(line), "bank details are not part of a list export"
    assert dict(zip(header, line))["Fournisseur"] == "oui"


def test_a_cell_that_starts_like_a_formula_is_not_run_by_the_spreadsheet(admin_client):
    Company.objects.create(name='=HYPERLINK("http://evil.example","clic")')
    header, line = read_csv(admin_client.get(reverse("admin:hub_company_export")))
    assert not dict(zip(header, line))["Raison sociale"].startswith("=")


def test_in_english_the_export_reads_as_an_english_spreadsheet_expects(client, invoices):
    user = User.objects.create_user("en-user", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_invoice"))
    client.force_login(user)
    client.cookies["django_language"] = "en"
    raw = client.get(reverse("admin:hub_invoice_export"), {"en_retard": "oui", "o": "5"}).content
    header, first, *_ = list(csv.reader(io.StringIO(raw.decode("utf-8-sig")), delimiter=","))
    assert header[0] == "Number" and dict(zip(header, first))["Total incl. VAT"] == "1200.40"


def test_a_list_too_long_to_export_at_once_asks_to_filter_it_first(admin_client, invoices, monkeypatch):
    from apps.core.admin import exports

    monkeypatch.setattr(exports, "EXPORT_ROW_LIMIT", 3)  # four invoices match, two are overdue
    refused = admin_client.get(reverse("admin:hub_invoice_export"), {"q": "FA-10"}, follow=True)
    assert refused.redirect_chain[-1][0] == f'{reverse("admin:hub_invoice_changelist")}?q=FA-10'
    assert "Plus de 3 lignes : filtrez la liste avant de l'exporter." in html.unescape(refused.content.decode())
    assert admin_client.get(reverse("admin:hub_invoice_export"), {"en_retard": "oui"})["Content-Type"].startswith(
        "text/csv")
