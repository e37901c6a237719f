"""The action registry and runner: availability, idempotency keys, second approver, outcomes."""

from datetime import timedelta

import django_rq
import pytest
from django.utils import timezone
from rq import SimpleWorker

from apps.core import actions
from apps.core.models import ActionRun, Connection
from apps.hub.models import Company
from tests.core.action_doubles import PaySupplier, SendGreeting, make_user
from tests.core.action_doubles import client_company, registered_actions  # noqa: F401

pytestmark = pytest.mark.usefixtures("registered_actions")


def work_default_queue():
    queue = django_rq.get_queue("default")
    SimpleWorker([queue], connection=queue.connection).work(burst=True)


@pytest.fixture
def empty_default_queue(redis_connection):
    django_rq.get_queue("default").empty()


def test_the_same_click_twice_runs_the_action_once(client_company, django_capture_on_commit_callbacks,
                                                   empty_default_queue):
    user = make_user("lea", "send_emails")
    action = actions.get(SendGreeting.key)

    with django_capture_on_commit_callbacks(execute=True):
        first, created = actions.start(action, client_company, user, "cle-du-clic")
        again, created_again = actions.start(action, client_company, user, "cle-du-clic")
    work_default_queue()

    assert created and not created_again and again.pk == first.pk
    assert SendGreeting.calls == [client_company.pk]
    first.refresh_from_db()
    assert first.status == ActionRun.Status.SUCCEEDED
    assert first.message == "Bonjour envoyé à Atelier Dupont"
    assert first.external_ids == {"message_id": f"M-{client_company.pk}"}


def test_a_finished_run_is_not_executed_again(client_company):
    user = make_user("lea", "send_emails")
    run, _ = actions.start(actions.get(SendGreeting.key), client_company, user, "k1")

    actions.execute(run.pk)
    actions.execute(run.pk)

    assert SendGreeting.calls == [client_company.pk]


def test_a_second_click_while_the_first_runs_joins_it(client_company):
    user = make_user("lea", "send_emails")
    action = actions.get(SendGreeting.key)
    first, _ = actions.start(action, client_company, user, "onglet-1")

    second, created = actions.start(action, client_company, user, "onglet-2")

    assert not created and second.pk == first.pk


def test_without_the_permission_no_run_is_recorded(client_company):
    user = make_user("marc")  # staff, no capability

    with pytest.raises(actions.ActionUnavailable, match="permission"):
        actions.start(actions.get(SendGreeting.key), client_company, user, "k1")

    assert not ActionRun.objects.exists()


def test_a_key_cannot_be_replayed_by_someone_else(client_company):
    action = actions.get(SendGreeting.key)
    actions.start(action, client_company, make_user("lea", "send_emails"), "cle-de-lea")

    with pytest.raises(actions.ActionUnavailable):
        actions.start(action, client_company, make_user("paul", "send_emails"), "cle-de-lea")


def test_availability_reflects_state_and_connection_health(client_company):
    user = make_user("lea", "send_emails")
    action = actions.get(SendGreeting.key)
    supplier = Company.objects.create(name="Fournisseur", is_client=False)

    assert action.unavailable_reason(client_company, user) is None
    assert action.unavailable_reason(supplier, user) == "Action non applicable dans l'état actuel."
    Connection.objects.update(consecutive_failures=5)
    assert "Connexion indisponible" in action.unavailable_reason(client_company, user)


def test_a_large_payment_waits_for_a_different_approver(django_capture_on_commit_callbacks, empty_default_queue):
    supplier = Company.objects.create(name="Gros fournisseur", is_client=False)
    requester = make_user("lea", "pay_suppliers", "approve_payments")
    clerk = make_user("paul", "pay_suppliers")
    approver = make_user("zoe", "approve_payments")
    action = actions.get(PaySupplier.key)

    with django_capture_on_commit_callbacks(execute=True):
        run, _ = actions.start(action, supplier, requester, "paiement-1")
    work_default_queue()
    run.refresh_from_db()
    assert run.status == ActionRun.Status.PENDING_APPROVAL and PaySupplier.calls == []

    with pytest.raises(actions.ActionUnavailable, match="autre utilisateur"):
        actions.approve(run, requester)
    with pytest.raises(actions.ActionUnavailable, match="permission"):
        actions.approve(run, clerk)
    assert PaySupplier.calls == []

    with django_capture_on_commit_callbacks(execute=True):
        actions.approve(run, approver)
    work_default_queue()

    run.refresh_from_db()
    assert run.status == ActionRun.Status.SUCCEEDED
    assert run.external_ids["approved_by"] == "zoe" and run.external_ids["transfer_id"] == f"T-{supplier.pk}"
    assert PaySupplier.calls == [supplier.pk]


def test_a_readable_failure_is_kept_on_the_run():
    supplier = Company.objects.create(name="Virement refusé", is_client=False)
    run, _ = actions.start(actions.get(PaySupplier.key), supplier, make_user("lea", "pay_suppliers"), "k1")

    actions.execute(run.pk)

    run.refresh_from_db()
    assert run.status == ActionRun.Status.FAILED
    assert run.message == "Virement refusé par la banque."



def test_a_duplicated_job_leaves_a_run_held_by_another_worker_alone(client_company):
    user = make_user("lea", "send_emails")
    run, _ = actions.start(actions.get(SendGreeting.key), client_company, user, "k-dup")
    # Another worker claimed it and still beats.
    ActionRun.objects.filter(pk=run.pk).update(started_at=timezone.now(), heartbeat_at=timezone.now(), attempts=1)

    actions.execute(run.pk)  # the duplicate job

    assert SendGreeting.calls == []
    run.refresh_from_db()
    assert run.status == ActionRun.Status.RUNNING
    # That worker died: once its heartbeat is stale, the next job takes the run over.
    ActionRun.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=1))
    actions.execute(run.pk)
    assert SendGreeting.calls == [client_company.pk]
    run.refresh_from_db()
    assert (run.status, run.attempts) == (ActionRun.Status.SUCCEEDED, 2)
