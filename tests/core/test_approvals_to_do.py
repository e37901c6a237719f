"""Approvals a person can act on: on the approver's home and header, with what is approved, and "Refuser"."""

import pytest
from django.urls import reverse

from apps.core import actions
from apps.core.models import ActionRun
from apps.hub.models import Company
from tests.core.action_doubles import PaySupplier, make_user
from tests.core.action_doubles import registered_actions  # noqa: F401

pytestmark = pytest.mark.usefixtures("registered_actions")
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def held_run():
    big = Company.objects.create(name="Gros fournisseur", iban="FR7630006000011234567890189")
    requester = make_user("compta", "pay_suppliers", "view_console")
    run, _ = actions.start(actions.get(PaySupplier.key), big, requester, "k-held")
    assert run.status == ActionRun.Status.PENDING_APPROVAL
    return run


def test_the_approver_home_lists_what_waits_with_its_summary_and_the_header_counts_it(client, held_run):
    client.force_login(make_user("treso", "approve_payments", "view_console"))
    page = client.get(reverse("admin:index")).content.decode()

    assert "À approuver" in page and "1 paiement à approuver" in page
    assert "Gros fournisseur" in page and "Bénéficiaire" in page and "FR7630006000011234567890189" in page
    assert "Demandé par" in page and "compta" in page
    assert reverse("core:action_approve", args=[held_run.pk]) in page
    assert reverse("core:action_refuse", args=[held_run.pk]) in page


def test_the_requester_and_people_without_the_permission_see_no_approval_to_do(client, held_run):
    client.force_login(held_run.user)
    page = client.get(reverse("admin:index")).content.decode()
    assert "À approuver" not in page and "paiement à approuver" not in page

    client.force_login(make_user("marc", "view_console"))
    assert "À approuver" not in client.get(reverse("admin:index")).content.decode()


def test_refusing_needs_a_reason_and_ends_the_run_refused_with_it(client, held_run):
    client.force_login(make_user("treso", "approve_payments", "view_console"))
    url = reverse("core:action_refuse", args=[held_run.pk])

    without = client.post(url, {"reason": "  "}, **HTMX)
    assert without.status_code == 400 and "Indiquez le motif du refus" in without.content.decode()
    held_run.refresh_from_db()
    assert held_run.status == ActionRun.Status.PENDING_APPROVAL

    refused = client.post(url, {"reason": "Montant à vérifier avec le fournisseur"}, **HTMX)
    assert refused.status_code == 200
    held_run.refresh_from_db()
    assert held_run.status == ActionRun.Status.REFUSED
    assert held_run.message == "Refusé par treso : Montant à vérifier avec le fournisseur"
    assert PaySupplier.calls == []
    assert "Refusée" in refused.content.decode()
    # Once refused, nothing can approve it any more.
    assert client.post(reverse("core:action_approve", args=[held_run.pk]), **HTMX).status_code == 409


def test_the_requester_cannot_refuse_their_own_request(client):
    both = make_user("chef", "pay_suppliers", "approve_payments", "view_console")
    big = Company.objects.create(name="Gros imprimeur", iban="FR7630006000011234567890189")
    run, _ = actions.start(actions.get(PaySupplier.key), big, both, "k-own")
    client.force_login(both)

    response = client.post(reverse("core:action_refuse", args=[run.pk]), {"reason": "non"}, **HTMX)

    run.refresh_from_db()
    assert response.status_code == 403 and run.status == ActionRun.Status.PENDING_APPROVAL


def test_a_user_with_no_action_is_told_why_and_not_that_nothing_exists(client):
    from django.contrib.contenttypes.models import ContentType

    company = Company.objects.create(name="Atelier", is_supplier=True)
    client.force_login(make_user("lecteur", "view_console"))
    html = client.get(reverse("core:action_bar", kwargs={
        "content_type_id": ContentType.objects.get_for_model(Company).pk, "object_id": company.pk}), **HTMX)
    text = html.content.decode()
    assert "demandent une permission que votre compte n'a pas" in text
    assert "Aucune action disponible" not in text
