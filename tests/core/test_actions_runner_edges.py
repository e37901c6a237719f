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
from apps.core.signals import action_run_changed
from apps.hub.models import Company
from tests.core.action_doubles import PROVIDER, PaySupplier, SendGreeting, make_user
from tests.core.action_doubles import client_company, registered_actions  # noqa: F401

pytestmark = pytest.mark.usefixtures("registered_actions")


@pytest.fixture
def default_queue(redis_connection):
    queue = django_rq.get_queue("default")
    queue.empty()
    return queue


class Recorder:
    def __init__(self):
        self.runs = []

    def __call__(self, sender, run, **kwargs):
        self.runs.append((run.pk, run.status))


@pytest.fixture
def announced():
    recorder = Recorder()
    action_run_changed.connect(recorder, sender=ActionRun)
    yield recorder.runs
    action_run_changed.disconnect(recorder, sender=ActionRun)


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
