"""A record's timeline says who changed what on it, with the value before and after, in the reader's terms."""

from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission, User
from django.db import transaction
from django.urls import reverse

from apps.core import actions
from apps.hub.models import Company, Invoice, SupplierBill
from tests.core.action_doubles import SendGreeting, make_user, registered_actions  # noqa: F401
from tests.hub.forms_in_tests import inline_management, opened_form

pytestmark = pytest.mark.django_db


def staff(username, first_name, *codenames):
    user = User.objects.create_user(username, password="x", first_name=first_name, is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    return user


def company_form(company, **changes):
    fields = ("name", "email", "phone", "vat_number", "registration_number", "address1", "postal_code", "city",
              "region", "country_code", "currency", "iban", "bic", "account_no", "sort_code", "routing_number")
    data = {name: getattr(company, name) for name in fields}
    data.update(is_client="on" if company.is_client else "", **changes)
    data.update(inline_management("contacts"))
    return data


def timeline_of(client, record) -> str:
    page = client.get(reverse(f"admin:hub_{record._meta.model_name}_change", args=[record.pk]))
    assert page.status_code == 200
    section = page.content.decode().split('class="module console-timeline"', 1)[1]
    return section.split("</section>", 1)[0]


def test_another_user_reads_who_changed_the_company_and_what(client):
    company = Company.objects.create(name="Boulangerie Martin", city="Lyon")
    alice = staff("alice", "Alice", "change_company", "view_company")
    bruno = staff("bruno", "Bruno", "view_company")

    client.force_login(alice)
    saved = client.post(reverse("admin:hub_company_change", args=[company.pk]),
                        company_form(company, city="Villeurbanne", phone="04 72 00 00 00",
                                     **opened_form(client, company)))
    assert saved.status_code == 302

    client.force_login(bruno)
    timeline = timeline_of(client, company)

    assert "Fiche modifiée par Alice" in timeline
    assert "Ville : Lyon → Villeurbanne" in timeline
    assert "Téléphone : — → 04 72 00 00 00" in timeline
    assert "Raison sociale" not in timeline  # unchanged fields are not listed


def test_an_amount_reads_in_french_money_before_and_after(client):
    supplier = Company.objects.create(name="Imprimerie Roux", is_client=False, is_supplier=True)
    bill = SupplierBill.objects.create(supplier=supplier, reference="F-77", amount=Decimal("1200.40"))
    alice = staff("alice", "Alice", "change_supplierbill", "view_supplierbill")
    client.force_login(alice)
    bill.amount = Decimal("1300.00")
    bill.save()

    timeline = timeline_of(client, bill)

    assert "Montant TTC : 1\u202f200,40\u00a0€ → 1\u202f300,00\u00a0€" in timeline


def test_a_line_changed_on_an_invoice_shows_on_the_invoice(client):
    company = Company.objects.create(name="Boulangerie Martin")
    invoice = Invoice.objects.create(company=company, title="Enseigne")
    line = invoice.lines.create(description="Logo", quantity=1, unit_price=Decimal("950.00"))
    line.unit_price = Decimal("990.00")
    line.save()
    client.force_login(staff("bruno", "Bruno", "view_invoice"))

    timeline = timeline_of(client, invoice)

    assert "Ligne de facture « Logo » ajoutée" in timeline
    assert "Prix unitaire HT : 950,00\u00a0€ → 990,00\u00a0€" in timeline


def test_the_history_row_is_part_of_the_write_it_records():
    company = Company.objects.create(name="Boulangerie Martin")
    with pytest.raises(RuntimeError), transaction.atomic():
        company.name = "Boulangerie Martin & fils"
        company.save()
        raise RuntimeError("the write is abandoned")

    assert [row.name for row in company.history.all()] == ["Boulangerie Martin"]



class RenameCompany(SendGreeting):
    """An action that changes the record, as the send and payment actions do, in a worker without a request."""

    key = "historytest.rename"

    def run(self, obj, run):
        obj.name = "Boulangerie Martin & fils"
        obj.save()
        return actions.ActionOutcome("Renommée", {})


@pytest.mark.usefixtures("registered_actions")
def test_a_change_made_by_an_action_in_a_worker_is_the_requesters(client):
    company = Company.objects.create(name="Boulangerie Martin")
    alice = make_user("alice", "send_emails")
    alice.first_name = "Alice"
    alice.save()
    actions.register(RenameCompany)
    run, _created = actions.start(actions.get(RenameCompany.key), company, alice, "cle-renommer")
    actions.execute(run.pk)  # as the worker does: no request, no user but the run's

    client.force_login(staff("bruno", "Bruno", "view_company"))
    timeline = timeline_of(client, company)
    assert "Fiche modifiée par Alice" in timeline
    assert "Raison sociale : Boulangerie Martin → Boulangerie Martin &amp; fils" in timeline
