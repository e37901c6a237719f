"""A contextual action is never stuck: a lost job or a dead worker is made good within the minute, the page
says why a run waits, and a run that cannot complete fails with its reason and a "Relancer" for whoever may
run the action."""

from datetime import timedelta

import django_rq
import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone
from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from rq import SimpleWorker

from apps.core import actions, redis_clients
from apps.core.models import ActionRun
from tests.core.action_doubles import PaySupplier, SendGreeting, make_user
from tests.core.action_doubles import client_company, registered_actions  # noqa: F401

pytestmark = pytest.mark.usefixtures("registered_actions")

HTMX = {"HTTP_HX_REQUEST": "true"}


def work_default_queue():
    queue = django_rq.get_queue("default")
    SimpleWorker([queue], connection=queue.connection).work(burst=True)


@pytest.fixture
def default_queue(redis_connection):
    django_rq.get_queue("default").empty()
    return django_rq.get_queue("default")


@pytest.fixture
def redis_down(monkeypatch):
    def unreachable(*args, **kwargs):
        raise RedisConnectionError("Redis est arrêté")

    monkeypatch.setattr(django_rq, "get_queue", unreachable)
    monkeypatch.setattr(django_rq, "get_connection", unreachable)
    return monkeypatch


def clicked_while_redis_was_down(redis_down, company, user, key="clic-1"):
    run, created = actions.start(actions.get(SendGreeting.key), company, user, key)
    assert created
    redis_down.undo()
    return run


def age(run, **delta):
    ActionRun.objects.filter(pk=run.pk).update(queued_at=timezone.now() - timedelta(**delta))


def test_a_run_whose_job_was_lost_is_queued_again_and_acts_once(client_company, default_queue, redis_down):
    user = make_user("lea", "send_emails")
    run = clicked_while_redis_was_down(redis_down, client_company, user)
    assert actions.recover_stalled_runs() == {"requeued": 0, "failed": 0}  # clicked seconds ago

    age(run, seconds=30)
    assert actions.recover_stalled_runs() == {"requeued": 1, "failed": 0}
    assert actions.recover_stalled_runs() == {"requeued": 0, "failed": 0}  # its job now waits in the queue
    work_default_queue()

    run.refresh_from_db()
    assert (run.status, run.idempotency_key, run.attempts) == (ActionRun.Status.SUCCEEDED, "clic-1", 1)
    assert SendGreeting.calls == [client_company.pk] and ActionRun.objects.count() == 1


def test_a_run_whose_worker_died_is_resumed_then_given_up_with_its_reason(client_company, default_queue, redis_down):
    user = make_user("lea", "send_emails")
    run = clicked_while_redis_was_down(redis_down, client_company, user)
    long_ago = timezone.now() - timedelta(minutes=2)
    ActionRun.objects.filter(pk=run.pk).update(queued_at=long_ago, started_at=long_ago, heartbeat_at=long_ago,
                                               attempts=1)

    assert actions.recover_stalled_runs() == {"requeued": 1, "failed": 0}
    run.refresh_from_db()
    assert run.status == ActionRun.Status.RUNNING and run.message.startswith("Reprise après l'arrêt du worker")

    default_queue.empty()  # and that worker died too, twice more
    ActionRun.objects.filter(pk=run.pk).update(queued_at=long_ago, heartbeat_at=long_ago, attempts=3)
    assert actions.recover_stalled_runs() == {"requeued": 0, "failed": 1}
    run.refresh_from_db()
    assert run.status == ActionRun.Status.FAILED and "3 fois" in run.message
    assert SendGreeting.calls == []


def test_a_run_that_could_not_start_within_the_hour_fails_instead_of_acting_late(client_company, default_queue,
                                                                                redis_down):
    run = clicked_while_redis_was_down(redis_down, client_company, make_user("lea", "send_emails"))
    age(run, minutes=61)

    assert actions.recover_stalled_runs() == {"requeued": 0, "failed": 1}
    run.refresh_from_db()
    assert run.status == ActionRun.Status.FAILED and "Non démarrée dans les 60 minutes" in run.message


def test_while_it_waits_the_page_says_it_is_queued_and_why(client, client_company, default_queue, redis_down):
    user = make_user("lea", "send_emails", "view_console")
    client.force_login(user)
    run = clicked_while_redis_was_down(redis_down, client_company, user)
    url = reverse("core:action_run", args=[run.pk])

    with pytest.MonkeyPatch.context() as patch:  # the process's shared client now points at a closed port
        patch.setattr(redis_clients, "for_queue", lambda name="default": Redis(host="127.0.0.1", port=1))
        page = client.get(url, **HTMX).content.decode()
    assert "En file d&#x27;attente" in page and "Redis est injoignable" in page

    page = client.get(url, **HTMX).content.decode()
    assert "Sa tâche a été perdue" in page  # it never reached Redis: the sweep queues it again

    age(run, seconds=30)
    actions.recover_stalled_runs()  # its job waits in the queue now, and no worker runs
    page = client.get(url, **HTMX).content.decode()
    assert "En file d&#x27;attente" in page and "Aucun worker n&#x27;est en marche" in page
    assert "En cours" not in page


def test_a_failed_run_offers_relancer_to_whoever_may_run_the_action_and_acts_once(
        client, client_company, default_queue, redis_down, django_capture_on_commit_callbacks):
    requester = make_user("lea", "send_emails", "view_console")
    run = clicked_while_redis_was_down(redis_down, client_company, requester, key="cle-unique")
    age(run, minutes=61)
    actions.recover_stalled_runs()
    status_url = reverse("core:action_run", args=[run.pk])
    relaunch_url = reverse("core:action_relaunch", args=[run.pk])

    onlooker = make_user("marc", "view_console")  # may see the record, may not send emails
    onlooker.user_permissions.add(Permission.objects.get(codename="view_company"))
    client.force_login(onlooker)
    assert "Relancer" not in client.get(status_url, **HTMX).content.decode()
    assert client.post(relaunch_url, **HTMX).status_code == 403

    colleague = make_user("paul", "send_emails", "view_console")
    colleague.user_permissions.add(Permission.objects.get(codename="view_company"))
    client.force_login(colleague)
    page = client.get(status_url, **HTMX).content.decode()
    assert "Échec" in page and "Non démarrée" in page and "Relancer" in page

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(relaunch_url, **HTMX)
    assert response.status_code == 200 and "relancée" in response.content.decode()
    assert client.post(relaunch_url, **HTMX).status_code == 403  # no longer failed: nothing to relaunch
    work_default_queue()

    run.refresh_from_db()
    assert (run.status, run.idempotency_key) == (ActionRun.Status.SUCCEEDED, "cle-unique")
    assert SendGreeting.calls == [client_company.pk] and ActionRun.objects.count() == 1


def test_relaunching_a_payment_that_needs_approval_asks_for_it_again(client_company, default_queue):
    from apps.hub.models import Company

    supplier = Company.objects.create(name="Gros fournisseur", is_client=False)
    requester = make_user("lea", "pay_suppliers")
    run, _ = actions.start(actions.get(PaySupplier.key), supplier, requester, "paiement")
    ActionRun.objects.filter(pk=run.pk).update(status=ActionRun.Status.FAILED,
                                               external_ids={"approved_by": "zoe", "request_id": "R-1"})
    run.refresh_from_db()

    relaunched = actions.relaunch(run, make_user("paul", "pay_suppliers"))

    assert relaunched.status == ActionRun.Status.PENDING_APPROVAL
    assert relaunched.external_ids == {"request_id": "R-1"}  # progress kept, approval not
    assert PaySupplier.calls == []


def test_the_waiting_reason_follows_the_workers(client, client_company, default_queue,
                                               django_capture_on_commit_callbacks):
    from rq import Worker
    from rq.suspension import resume, suspend

    user = make_user("lea", "send_emails", "view_console")
    client.force_login(user)
    ahead = django_rq.get_queue("default", commit_mode="auto").enqueue("apps.core.actions.recover_stalled_runs")
    with django_capture_on_commit_callbacks(execute=True):
        run, _ = actions.start(actions.get(SendGreeting.key), client_company, user, "clic")
    url = reverse("core:action_run", args=[run.pk])
    worker = Worker([default_queue], connection=default_queue.connection, name="en-marche")
    worker.register_birth()

    assert "1 tâche(s) la précèdent dans la file." in client.get(url, **HTMX).content.decode()
    suspend(default_queue.connection)
    assert "Les workers sont suspendus" in client.get(url, **HTMX).content.decode()
    resume(default_queue.connection)
    default_queue.remove(ahead)
    assert "Un worker va la prendre." in client.get(url, **HTMX).content.decode()
    worker.register_death()
