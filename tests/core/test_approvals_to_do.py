"""Approvals a person can act on: on the approver's home and header, with what is approved, and "Refuser"."""

import pytest
from django.urls import reverse

from apps.core import actions
from apps.core.models import ActionRun
from apps.hub.models import Company
from tests.core.action_doubles import PaySupplier, make_user
from tests.core.action_doubles import announced, registered_actions  # noqa: F401

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


def test_the_refusal_the_requester_reads_is_the_approver_s_reason_on_one_line_cut_at_300_characters(held_run):
    actions.save_progress(held_run, request_id="R-1")
    approver = make_user("treso", "approve_payments")
    reason = "Montant\n  à   vérifier " + "x" * 400

    refused = actions.refuse(held_run, approver, reason)

    expected = ("Montant à vérifier " + "x" * 400)[:300]
    assert refused.message == f"Refusé par treso : {expected}"
    assert refused.status == ActionRun.Status.REFUSED and refused.finished_at is not None
    assert refused.external_ids == {"request_id": "R-1", "refused_by": "treso"}
    assert PaySupplier.calls == []


def test_who_may_not_refuse_is_told_why_and_the_request_keeps_waiting(held_run):
    from tests.core.action_doubles import SendGreeting

    cases = [
        (held_run.user, "Non.", "Le refus doit venir d'un autre utilisateur que le demandeur."),
        (make_user("marc", "pay_suppliers"), "Non.", "Vous n'avez pas la permission de refuser ce paiement."),
        (make_user("treso", "approve_payments"), " \n ", "Indiquez le motif du refus : le demandeur le lira sur le "
                                                         "dossier."),
        (make_user("zoe", "approve_payments"), None, "Indiquez le motif du refus : le demandeur le lira sur le "
                                                     "dossier."),
    ]
    for user, reason, said in cases:
        with pytest.raises(actions.ActionUnavailable) as refusal:
            actions.refuse(held_run, user, reason)
        assert str(refusal.value) == said
    # An action that never asks for a second approver cannot be refused by anyone.
    greeting, _ = actions.start(actions.get(SendGreeting.key), Company.objects.create(name="Client", is_client=True),
                                make_user("lea", "send_emails"), "k-greet")
    with pytest.raises(actions.ActionUnavailable) as refusal:
        actions.refuse(greeting, make_user("chef", "approve_payments"), "Non.")
    assert str(refusal.value) == "Vous n'avez pas la permission de refuser ce paiement."
    held_run.refresh_from_db()
    assert held_run.status == ActionRun.Status.PENDING_APPROVAL


def test_what_waits_for_an_approver_is_the_others_held_requests_oldest_first(held_run):
    from datetime import timedelta

    from django.utils import timezone

    def held(name, user, key):
        return actions.start(actions.get(PaySupplier.key), Company.objects.create(name=name), user, key)[0]

    approver = make_user("treso", "approve_payments")
    approver_who_pays = make_user("chef", "approve_payments", "pay_suppliers")
    older = held("Gros imprimeur", held_run.user, "k-older")
    mine = held("Gros loueur", approver_who_pays, "k-mine")
    ActionRun.objects.filter(pk=held_run.pk).update(created_at=timezone.now() + timedelta(minutes=5))
    ActionRun.objects.filter(pk=held("Gros menuisier", held_run.user, "k-done").pk).update(
        status=ActionRun.Status.REFUSED)

    assert actions.waiting_for(approver) == [older, mine, held_run]
    assert actions.waiting_for(approver_who_pays) == [older, held_run]  # never their own request
    assert actions.waiting_for(make_user("compta2", "pay_suppliers")) == []
    for absent in (make_user("ancien", "approve_payments", is_active=False),
                   make_user("externe", "approve_payments", is_staff=False)):
        assert actions.waiting_for(absent) == []


def test_a_refusal_ends_only_that_request_and_is_announced_to_open_pages(held_run, announced,
                                                                        django_capture_on_commit_callbacks):
    other = actions.start(actions.get(PaySupplier.key), Company.objects.create(name="Gros imprimeur"),
                          held_run.user, "k-other")[0]
    announced.clear()
    with django_capture_on_commit_callbacks(execute=True):
        actions.refuse(held_run, make_user("treso", "approve_payments"), "Non.")

    assert announced == [(held_run.pk, ActionRun.Status.REFUSED)]
    other.refresh_from_db()
    assert other.status == ActionRun.Status.PENDING_APPROVAL


def test_a_refusal_arriving_after_another_approver_released_the_payment_changes_nothing(held_run):
    stale = ActionRun.objects.get(pk=held_run.pk)  # the page the second approver still has open
    actions.approve(held_run, make_user("zoe", "approve_payments"))

    after = actions.refuse(stale, make_user("treso", "approve_payments"), "Trop tard ?")

    assert (after.status, after.message) == (ActionRun.Status.RUNNING, "Approuvé par zoe ; en cours…")
    assert "refused_by" not in after.external_ids
