"""The action runner at its edges: who may click, what a run records (ids saved as they come, 500-character
message, the traceback of a crash), the execution lease, the second approver, and a click whose transaction
rolls back queuing nothing."""

from datetime import timedelta

import django_rq
import pytest
from django.db import transaction
from django.utils import timezone

from apps.core import actions
from apps.core.models import ActionRun, Connection
from apps.hub.models import Company
from tests.core.action_doubles import PROVIDER, PaySupplier, SendGreeting, make_user
from tests.core.action_doubles import announced, client_company, registered_actions  # noqa: F401

pytestmark = pytest.mark.usefixtures("registered_actions")


@pytest.fixture
def default_queue(redis_connection):
    queue = django_rq.get_queue("default")
    queue.empty()
    return queue


# Who may click -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs", [{"is_staff": False}, {"is_active": False}])
def test_only_active_staff_with_the_permission_may_run_an_action(client_company, kwargs):
    user = make_user("lea", "send_emails", **kwargs)
    action = actions.get(SendGreeting.key)
    assert action.unavailable_reason(client_company, user) == "Vous n'avez pas la permission requise."
    with pytest.raises(actions.ActionUnavailable):
        actions.start(action, client_company, user, "k")
    assert not ActionRun.objects.exists()


def test_availability_says_why_in_french(client_company):
    user = make_user("lea", "send_emails")
    action = actions.get(SendGreeting.key)
    assert action.unavailable_reason(client_company, user) is None and action.is_available(client_company, user)
    client_company.is_client = False
    assert action.unavailable_reason(client_company, user) == "Action non applicable dans l'état actuel."
    client_company.is_client = True
    Connection.objects.filter(provider=PROVIDER).update(consecutive_failures=3)
    assert action.unavailable_reason(client_company, user).startswith("Connexion indisponible : ")
    Connection.objects.filter(provider=PROVIDER).update(is_active=False)
    assert action.unavailable_reason(client_company, user) == "Aucune connexion active pour ce système."
    assert not action.is_available(client_company, user)


def test_the_action_talks_to_the_first_active_connection_of_its_system(client_company):
    first = Connection.objects.get(provider=PROVIDER)
    Connection.objects.create(provider=PROVIDER, name="Deuxième", slug="second")
    assert actions.get(SendGreeting.key).connection() == first
    first.is_active = False
    first.save()
    assert actions.get(SendGreeting.key).connection().slug == "second"


def test_a_record_lists_its_actions_with_their_reasons(client_company):
    user = make_user("lea", "send_emails")
    listed = {action.key: reason for action, reason in actions.for_object(client_company, user)}
    mine = {key: reason for key, reason in listed.items() if key in (SendGreeting.key, PaySupplier.key)}
    assert mine == {SendGreeting.key: None, PaySupplier.key: "Vous n'avez pas la permission requise."}


# What a click records ------------------------------------------------------------------------------------------
def test_a_click_records_a_running_run_and_queues_it_once_committed(client_company, default_queue, announced,
                                                                  django_capture_on_commit_callbacks):
    user = make_user("lea", "send_emails")
    with django_capture_on_commit_callbacks(execute=True):
        run, created = actions.start(actions.get(SendGreeting.key), client_company, user, "k-1")
        assert default_queue.count == 0 and announced == []
    assert created
    run.refresh_from_db()
    assert (run.status, run.message, run.label, run.object_id, run.user) == (
        ActionRun.Status.RUNNING, "En cours…", "Envoyer un bonjour", str(client_company.pk), user)
    (job,) = default_queue.get_jobs()
    assert (job.func, job.args) == (actions.execute, (run.pk,))
    assert announced == [(run.pk, ActionRun.Status.RUNNING)]


@pytest.mark.django_db(transaction=True)
def test_a_click_whose_transaction_rolls_back_queues_nothing(registered_actions, default_queue):
    company = Company.objects.create(name="Atelier Dupont", is_client=True)
    user = make_user("lea", "send_emails")
    with pytest.raises(RuntimeError), transaction.atomic():
        actions.start(actions.get(SendGreeting.key), company, user, "k-rollback")
        raise RuntimeError("the request failed after the click was recorded")
    assert default_queue.count == 0 and not ActionRun.objects.exists()


def test_ids_saved_during_the_run_are_visible_at_once_and_kept_at_the_end(client_company, monkeypatch):
    seen_in_db = []

    def run(self, obj, run):
        actions.save_progress(run, step_one="A-1")
        seen_in_db.append(ActionRun.objects.get(pk=run.pk).external_ids)
        actions.save_progress(run, step_two="B-2")
        return actions.ActionOutcome("Fait", {"final": "C-3"})

    monkeypatch.setattr(SendGreeting, "run", run)
    user = make_user("lea", "send_emails")
    started, _ = actions.start(actions.get(SendGreeting.key), client_company, user, "k-ids")
    actions.execute(started.pk)
    started.refresh_from_db()
    assert seen_in_db == [{"step_one": "A-1"}]
    assert started.external_ids == {"step_one": "A-1", "step_two": "B-2", "final": "C-3"}
    assert (started.status, started.message, started.error) == (ActionRun.Status.SUCCEEDED, "Fait", "")
    assert started.finished_at is not None


@pytest.mark.parametrize("length", [500, 501])
def test_a_failure_message_is_kept_cut_at_500_characters_with_its_full_text_as_error(client_company, monkeypatch,
                                                                                      length):
    text = "r" * length

    def run(self, obj, run):
        raise actions.ActionFailed(text)

    monkeypatch.setattr(SendGreeting, "run", run)
    started, _ = actions.start(actions.get(SendGreeting.key), client_company, make_user("lea", "send_emails"), "k")
    actions.execute(started.pk)
    started.refresh_from_db()
    assert (started.status, started.message, started.error) == (ActionRun.Status.FAILED, "r" * 500, text)


def test_a_crash_is_a_readable_failure_with_its_traceback_kept(client_company, monkeypatch, announced):
    def run(self, obj, run):
        raise KeyError("champ manquant")

    monkeypatch.setattr(SendGreeting, "run", run)
    started, _ = actions.start(actions.get(SendGreeting.key), client_company, make_user("lea", "send_emails"), "k")
    actions.execute(started.pk)
    started.refresh_from_db()
    assert started.status == ActionRun.Status.FAILED
    assert started.message == "Échec inattendu : 'champ manquant'"
    assert started.error.startswith("Traceback") and "KeyError: 'champ manquant'" in started.error
    assert announced[-1] == (started.pk, ActionRun.Status.FAILED)


# The execution lease -------------------------------------------------------------------------------------------
def test_a_run_claims_itself_while_it_works_and_a_fresh_claim_keeps_a_second_job_out(client_company, monkeypatch):
    beats = []

    def run(self, obj, run):
        beats.append(ActionRun.objects.get(pk=run.pk).heartbeat_at)
        return actions.ActionOutcome("Fait")

    monkeypatch.setattr(SendGreeting, "run", run)
    started, _ = actions.start(actions.get(SendGreeting.key), client_company, make_user("lea", "send_emails"), "k")
    actions.execute(started.pk)
    assert len(beats) == 1 and beats[0] is not None
    # A duplicated job while another worker's claim is fresh does nothing.
    ActionRun.objects.filter(pk=started.pk).update(status=ActionRun.Status.RUNNING, heartbeat_at=timezone.now())
    actions.execute(started.pk)
    assert len(beats) == 1
    # A claim whose worker stopped beating (it died) is taken over: the run goes again.
    ActionRun.objects.filter(pk=started.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=5))
    actions.execute(started.pk)
    assert len(beats) == 2


@pytest.mark.django_db(transaction=True)
def test_while_the_action_works_its_worker_keeps_beating(registered_actions, monkeypatch):
    """The heartbeat is what tells the sweep and a duplicated job that the worker is alive (beats sped up here)."""
    import time

    monkeypatch.setattr(actions, "HEARTBEAT_SECONDS", 0.05)
    company = Company.objects.create(name="Atelier Dupont", is_client=True)
    seen = []

    def slow_run(self, obj, run):
        claimed = ActionRun.objects.get(pk=run.pk).heartbeat_at
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            time.sleep(0.05)
            beat = ActionRun.objects.get(pk=run.pk).heartbeat_at
            if beat > claimed:
                seen.append(beat)
                break
        # The sweep gave this run up meanwhile (say the database had hung): the worker no longer makes it look alive.
        ActionRun.objects.filter(pk=run.pk).update(status=ActionRun.Status.FAILED, heartbeat_at=long_ago)
        time.sleep(0.3)
        seen.append(ActionRun.objects.get(pk=run.pk).heartbeat_at)
        return actions.ActionOutcome("Fait")

    long_ago = timezone.now() - timedelta(minutes=5)
    monkeypatch.setattr(SendGreeting, "run", slow_run)
    user = make_user("lea", "send_emails")
    dead, _ = actions.start(actions.get(SendGreeting.key), Company.objects.create(name="Autre", is_client=True),
                            user, "k-dead")  # its worker died: only the sweep may take it over
    ActionRun.objects.filter(pk=dead.pk).update(started_at=long_ago, heartbeat_at=long_ago, attempts=1)
    started, _ = actions.start(actions.get(SendGreeting.key), company, user, "k-beat")
    actions.execute(started.pk)

    assert len(seen) == 2 and seen[1] == long_ago  # it beat while working, and not once the run was given up
    assert ActionRun.objects.get(pk=dead.pk).heartbeat_at == long_ago  # nor for another worker's run


def test_a_run_still_waiting_for_approval_is_not_executed(monkeypatch):
    supplier = Company.objects.create(name="Gros fournisseur")
    run, _ = actions.start(actions.get(PaySupplier.key), supplier, make_user("lea", "pay_suppliers"), "k")
    assert run.status == ActionRun.Status.PENDING_APPROVAL
    actions.execute(run.pk)
    assert PaySupplier.calls == []


# The second approver -------------------------------------------------------------------------------------------
def test_an_approval_is_recorded_once_and_queues_the_run_once(default_queue, django_capture_on_commit_callbacks):
    supplier = Company.objects.create(name="Gros fournisseur")
    requester = make_user("lea", "pay_suppliers")
    approver = make_user("marc", "pay_suppliers", "approve_payments")
    run, _ = actions.start(actions.get(PaySupplier.key), supplier, requester, "k")
    assert run.message == "En attente d'un second approbateur." and default_queue.count == 0
    with django_capture_on_commit_callbacks(execute=True):
        approved = actions.approve(run, approver)
        actions.approve(approved, approver)  # a double click on « Approuver »
    assert approved.status == ActionRun.Status.RUNNING
    assert approved.message == "Approuvé par marc ; en cours…"
    assert approved.external_ids == {"approved_by": "marc"}
    assert default_queue.count == 1


def test_the_requester_or_someone_without_the_permission_cannot_approve(default_queue):
    supplier = Company.objects.create(name="Gros fournisseur")
    requester = make_user("lea", "pay_suppliers", "approve_payments")
    run, _ = actions.start(actions.get(PaySupplier.key), supplier, requester, "k")
    with pytest.raises(actions.ActionUnavailable) as refusal:
        actions.approve(run, requester)
    assert str(refusal.value) == "L'approbation doit venir d'un autre utilisateur."
    with pytest.raises(actions.ActionUnavailable) as refusal:
        actions.approve(run, make_user("stagiaire", "pay_suppliers"))
    assert str(refusal.value) == "Vous n'avez pas la permission d'approuver ce paiement."
    run.refresh_from_db()
    assert run.status == ActionRun.Status.PENDING_APPROVAL


def test_an_action_without_an_approval_permission_cannot_be_approved_by_anyone(client_company):
    user = make_user("lea", "send_emails")
    run, _ = actions.start(actions.get(SendGreeting.key), client_company, user, "k")
    ActionRun.objects.filter(pk=run.pk).update(status=ActionRun.Status.PENDING_APPROVAL)
    with pytest.raises(actions.ActionUnavailable):
        actions.approve(run, make_user("marc", "send_emails", "approve_payments"))


def test_a_key_reused_for_another_record_or_action_is_refused(client_company):
    user = make_user("lea", "send_emails", "pay_suppliers")
    actions.start(actions.get(SendGreeting.key), client_company, user, "k-unique")
    other = Company.objects.create(name="Autre", is_client=True)
    for action_key, target in ((SendGreeting.key, other), (PaySupplier.key, client_company)):
        with pytest.raises(actions.ActionUnavailable) as refusal:
            actions.start(actions.get(action_key), target, user, "k-unique")
        assert str(refusal.value) == "Cette demande a déjà été utilisée pour une autre action."


def test_approving_one_payment_approves_only_that_one_keeps_its_ids_and_is_announced(
    default_queue, announced, django_capture_on_commit_callbacks
):
    requester = make_user("lea", "pay_suppliers")
    approver = make_user("marc", "pay_suppliers", "approve_payments")
    runs = []
    for name in ("Gros fournisseur A", "Gros fournisseur B"):
        run, _ = actions.start(actions.get(PaySupplier.key), Company.objects.create(name=name), requester,
                               f"k-{name}")
        runs.append(run)
    actions.save_progress(runs[0], request_id="req-1")
    with django_capture_on_commit_callbacks(execute=True):
        approved = actions.approve(runs[0], approver)
    runs[1].refresh_from_db()
    assert approved.external_ids == {"request_id": "req-1", "approved_by": "marc"}
    assert runs[1].status == ActionRun.Status.PENDING_APPROVAL
    assert announced[-1] == (approved.pk, ActionRun.Status.RUNNING)


def test_a_click_on_another_action_or_after_the_first_finished_makes_a_new_run(client_company):
    user = make_user("lea", "send_emails", "pay_suppliers")
    greet, _ = actions.start(actions.get(SendGreeting.key), client_company, user, "k-greet")
    pay, created = actions.start(actions.get(PaySupplier.key), client_company, user, "k-pay")
    assert created and pay.pk != greet.pk
    actions.execute(greet.pk)
    again, created_again = actions.start(actions.get(SendGreeting.key), client_company, user, "k-greet-2")
    assert created_again and again.pk != greet.pk


def test_a_click_without_the_permission_is_refused_in_french(client_company):
    with pytest.raises(actions.ActionUnavailable) as refusal:
        actions.start(actions.get(SendGreeting.key), client_company, make_user("lea"), "k")
    assert str(refusal.value) == "Vous n'avez pas la permission requise."


def test_an_action_never_uses_another_system_s_connection(client_company):
    Connection.objects.filter(provider=PROVIDER).delete()
    Connection.objects.create(provider="another-system", name="Autre", slug="autre")
    assert actions.get(SendGreeting.key).connection() is None


def test_two_requests_with_the_same_key_racing_past_the_lookup_share_one_run(client_company, default_queue,
                                                                             django_capture_on_commit_callbacks):
    """The same click reaching two web processes at once: both find no run for the key, one records it first;
    the other answers with that run (nothing new queued) instead of an error page."""
    user = make_user("lea", "send_emails")
    action = actions.get(SendGreeting.key)
    first = {}

    def the_other_request_records_it_meanwhile(obj, user):
        if not first:
            first["run"] = None
            first["run"], _created = actions.start(action, obj, user, "k-race")
        return False

    action.needs_approval = the_other_request_records_it_meanwhile
    try:
        with django_capture_on_commit_callbacks(execute=True):
            run, created = actions.start(action, client_company, user, "k-race")
    finally:
        del action.needs_approval
    assert (run.pk, created) == (first["run"].pk, False)
    assert ActionRun.objects.count() == 1
    assert [job.args for job in default_queue.get_jobs()] == [(run.pk,)]


class PayWithTraineeRule(PaySupplier):
    """A rule on who asks: a request by someone who may not approve payments waits for someone who may."""

    key = "kerneluitest.pay_trainee_rule"

    def needs_approval(self, obj, user):
        return not user.has_perm("core.approve_payments")


def test_the_approval_rule_is_asked_about_the_person_who_clicked(client_company):
    actions.register(PayWithTraineeRule)  # the registry is restored after each test
    action = actions.get(PayWithTraineeRule.key)
    trainee = make_user("stagiaire", "pay_suppliers")
    treasurer = make_user("tresoriere", "pay_suppliers", "approve_payments")
    held, _ = actions.start(action, client_company, trainee, "k-trainee")
    assert (held.status, held.message) == (ActionRun.Status.PENDING_APPROVAL, "En attente d'un second approbateur.")
    assert held.queued_at is None  # « mise en file le » stays empty: nothing is queued before the approval
    ActionRun.objects.filter(pk=held.pk).update(status=ActionRun.Status.REFUSED)
    direct, _ = actions.start(action, client_company, treasurer, "k-treasurer")
    assert (direct.status, direct.message) == (ActionRun.Status.RUNNING, "En cours…")


def test_a_relaunch_is_asked_about_the_person_relaunching(client_company):
    actions.register(PayWithTraineeRule)  # the registry is restored after each test
    action = actions.get(PayWithTraineeRule.key)
    treasurer = make_user("tresoriere", "pay_suppliers", "approve_payments")
    failed, _ = actions.start(action, client_company, treasurer, "k-treasurer")
    ActionRun.objects.filter(pk=failed.pk).update(status=ActionRun.Status.FAILED)
    failed.refresh_from_db()

    relaunched = actions.relaunch(failed, make_user("stagiaire", "pay_suppliers"))

    assert (relaunched.status, relaunched.message) == (ActionRun.Status.PENDING_APPROVAL,
                                                       "Relancée par stagiaire ; en attente d'un second approbateur.")


def test_a_run_whose_record_or_action_is_gone_fails_saying_so(client_company):
    user = make_user("lea", "send_emails")
    said = "Action ou dossier introuvable : l'action ne peut pas s'exécuter."
    deleted, _ = actions.start(actions.get(SendGreeting.key), client_company, user, "k-gone")
    other = Company.objects.create(name="Autre", is_client=True)
    retired, _ = actions.start(actions.get(SendGreeting.key), other, user, "k-retired")
    ActionRun.objects.filter(pk=retired.pk).update(action="kerneluitest.retired")
    client_company.delete()

    for run in (deleted, retired):
        actions.execute(run.pk)
        run.refresh_from_db()
        assert (run.status, run.message, run.error) == (ActionRun.Status.FAILED, said, said)
        assert run.finished_at is not None
    assert SendGreeting.calls == []


class RenameCompany(SendGreeting):
    """An action that changes the record, as the send and payment actions do."""

    key = "kerneluitest.rename"

    def run(self, obj, run):
        obj.name = "Atelier Dupont & fils"
        obj.save()
        return actions.ActionOutcome("Renommée", {})


def test_what_an_action_changes_in_the_worker_is_recorded_as_the_requester_s(client_company):
    actions.register(RenameCompany)  # the registry is restored after each test
    alice = make_user("alice", "send_emails")
    run, _ = actions.start(actions.get(RenameCompany.key), client_company, alice, "k-rename")

    actions.execute(run.pk)  # as the worker does: no request, only the run's user

    latest = client_company.history.order_by("-history_id").first()
    assert (latest.name, latest.history_user) == ("Atelier Dupont & fils", alice)


def test_one_job_claims_only_its_own_run_and_never_a_finished_one(client_company):
    user = make_user("lea", "send_emails")
    first, _ = actions.start(actions.get(SendGreeting.key), client_company, user, "k-first")
    other = Company.objects.create(name="Autre", is_client=True)
    second, _ = actions.start(actions.get(SendGreeting.key), other, user, "k-second")

    actions.execute(first.pk)
    actions.execute(second.pk)  # its own job comes next: the first job did not take it
    assert SendGreeting.calls == [client_company.pk, other.pk]

    ActionRun.objects.filter(pk=first.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=5))
    first.refresh_from_db()
    done = (first.status, first.started_at, first.heartbeat_at, first.attempts)
    actions.execute(first.pk)  # a duplicated job of a run finished minutes ago
    first.refresh_from_db()
    assert (first.status, first.started_at, first.heartbeat_at, first.attempts) == done
