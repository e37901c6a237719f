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
from apps.hub.models import Company
from tests.core.action_doubles import PaySupplier, SendGreeting, make_user
from tests.core.action_doubles import announced, client_company, registered_actions  # noqa: F401

pytestmark = pytest.mark.usefixtures("registered_actions")

HTMX = {"HTTP_HX_REQUEST": "true"}


def work_default_queue():
    queue = django_rq.get_queue("default")
    SimpleWorker([queue], connection=queue.connection).work(burst=True)


@pytest.fixture
def default_queue(redis_connection):
    django_rq.get_queue("default").empty()
    return django_rq.get_queue("default")


def redis_unreachable(*args, **kwargs):
    raise RedisConnectionError("Redis est arrêté")


@pytest.fixture
def redis_down(monkeypatch):
    monkeypatch.setattr(django_rq, "get_queue", redis_unreachable)
    monkeypatch.setattr(django_rq, "get_connection", redis_unreachable)
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


# What the sweep writes on the run, word for word, and when it steps in --------------------------------------------
def test_the_run_page_says_why_the_sweep_queued_a_run_again(client_company, default_queue, redis_down):
    user = make_user("lea", "send_emails")
    lost = clicked_while_redis_was_down(redis_down, client_company, user)
    age(lost, seconds=30)
    actions.recover_stalled_runs()
    lost.refresh_from_db()
    assert lost.message == "Remise en file : sa tâche avait été perdue."
    assert lost.queued_at > timezone.now() - timedelta(seconds=5)  # waits its 15 s again before another sweep

    default_queue.empty()
    long_ago = timezone.now() - timedelta(minutes=2)
    ActionRun.objects.filter(pk=lost.pk).update(queued_at=long_ago, started_at=long_ago, heartbeat_at=long_ago,
                                                attempts=2)
    actions.recover_stalled_runs()
    lost.refresh_from_db()
    assert lost.message == "Reprise après l'arrêt du worker (tentative 3)…"
    assert [job.id for job in default_queue.get_jobs()] == [actions.job_id_for(lost.pk)]


def test_every_run_never_started_past_the_deadline_is_given_up_and_counted(client_company, default_queue,
                                                                           redis_down):
    user = make_user("lea", "send_emails")
    runs = [clicked_while_redis_was_down(redis_down, company, user, key=f"k-{n}")
            for n, company in enumerate((client_company, Company.objects.create(name="Autre", is_client=True)))]
    for run in runs:
        age(run, minutes=120)
    assert actions.recover_stalled_runs() == {"requeued": 0, "failed": 2}
    assert {ActionRun.objects.get(pk=run.pk).status for run in runs} == {ActionRun.Status.FAILED}


def test_a_run_given_up_says_why_in_full_and_ends_now(client_company, default_queue, redis_down):
    user = make_user("lea", "send_emails")
    died = clicked_while_redis_was_down(redis_down, client_company, user, key="k-died")
    never = clicked_while_redis_was_down(redis_down, Company.objects.create(name="Autre", is_client=True), user,
                                         key="k-never")
    long_ago = timezone.now() - timedelta(minutes=90)
    ActionRun.objects.filter(pk=died.pk).update(queued_at=long_ago, started_at=long_ago, heartbeat_at=long_ago,
                                                attempts=3)
    age(never, minutes=120)  # looked at first (oldest), then the one whose worker died

    assert actions.recover_stalled_runs() == {"requeued": 0, "failed": 2}
    died.refresh_from_db()
    never.refresh_from_db()
    stopped = ("Le worker s'est arrêté 3 fois pendant cette action : abandon. Vérifiez dans le système concerné si "
               "elle a eu lieu avant de la relancer.")
    late = ("Non démarrée dans les 60 minutes qui ont suivi la demande (Redis ou les workers étaient arrêtés) : "
            "abandon. Relancez-la si elle est toujours voulue.")
    assert (died.status, died.message, died.error) == (ActionRun.Status.FAILED, stopped, stopped)
    assert (never.status, never.message, never.error) == (ActionRun.Status.FAILED, late, late)
    assert died.finished_at > timezone.now() - timedelta(seconds=5)
    assert default_queue.count == 0 and SendGreeting.calls == []


def test_the_sweep_steps_in_15_seconds_after_the_click_and_20_seconds_after_the_last_heartbeat(
        client_company, default_queue, redis_down):
    user = make_user("lea", "send_emails")
    run = clicked_while_redis_was_down(redis_down, client_company, user)
    age(run, seconds=14)
    assert actions.recover_stalled_runs() == {"requeued": 0, "failed": 0}
    age(run, seconds=15.5)
    assert actions.recover_stalled_runs() == {"requeued": 1, "failed": 0}

    default_queue.empty()
    now = timezone.now()
    ActionRun.objects.filter(pk=run.pk).update(queued_at=now - timedelta(minutes=1), started_at=now,
                                               heartbeat_at=now - timedelta(seconds=19), attempts=1)
    assert actions.recover_stalled_runs() == {"requeued": 0, "failed": 0}  # its worker beat 19 s ago: alive
    ActionRun.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now() - timedelta(seconds=20.5))
    assert actions.recover_stalled_runs() == {"requeued": 1, "failed": 0}


def test_with_redis_unreachable_the_sweep_leaves_every_run_as_it_is(client_company, default_queue, redis_down):
    user = make_user("lea", "send_emails")
    run = clicked_while_redis_was_down(redis_down, client_company, user)
    age(run, minutes=61)
    before = ActionRun.objects.values().get(pk=run.pk)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(redis_clients, "for_queue", lambda name="default": Redis(host="127.0.0.1", port=1))
        patch.setattr(django_rq, "get_connection", lambda *args, **kwargs: Redis(host="127.0.0.1", port=1))
        assert actions.recover_stalled_runs() == {"requeued": 0, "failed": 0}
    assert ActionRun.objects.values().get(pk=run.pk) == before


def test_relaunch_says_who_relaunched_and_starts_afresh(client_company, default_queue, redis_down, announced,
                                                        django_capture_on_commit_callbacks):
    requester = make_user("lea", "send_emails")
    run = clicked_while_redis_was_down(redis_down, client_company, requester, key="k-relaunch")
    actions.save_progress(run, message_id="M-1")
    long_ago = timezone.now() - timedelta(minutes=90)  # its worker died three times: given up
    ActionRun.objects.filter(pk=run.pk).update(queued_at=long_ago, started_at=long_ago, heartbeat_at=long_ago,
                                               attempts=3)
    actions.recover_stalled_runs()
    run.refresh_from_db()
    assert run.status == ActionRun.Status.FAILED
    other = clicked_while_redis_was_down(redis_down, Company.objects.create(name="Autre", is_client=True),
                                         requester, key="k-other")
    ActionRun.objects.filter(pk=other.pk).update(status=ActionRun.Status.FAILED)
    announced.clear()
    with django_capture_on_commit_callbacks(execute=True):
        relaunched = actions.relaunch(run, make_user("paul", "send_emails"))

    assert announced == [(run.pk, ActionRun.Status.RUNNING)]  # the open pages follow it
    assert ActionRun.objects.get(pk=other.pk).status == ActionRun.Status.FAILED  # only this one is relaunched

    assert (relaunched.status, relaunched.message, relaunched.error) == (ActionRun.Status.RUNNING,
                                                                         "Relancée par paul ; en cours…", "")
    assert (relaunched.finished_at, relaunched.started_at, relaunched.heartbeat_at, relaunched.attempts) == (
        None, None, None, 0)
    assert relaunched.queued_at > timezone.now() - timedelta(seconds=5)
    assert relaunched.external_ids == {"message_id": "M-1"}
    assert [job.id for job in default_queue.get_jobs()] == [actions.job_id_for(run.pk)]


def test_relaunch_refuses_what_it_cannot_do_and_says_why(client_company, default_queue):
    user = make_user("lea", "send_emails")
    run, _ = actions.start(actions.get(SendGreeting.key), client_company, user, "k-1")
    with pytest.raises(actions.ActionUnavailable) as refusal:
        actions.relaunch(run, user)
    assert str(refusal.value) == "Seule une action en échec peut être relancée."
    with pytest.raises(actions.ActionUnavailable) as refusal:
        actions.relaunch(run, make_user("marc", "view_console"))
    assert str(refusal.value) == "Vous n'avez pas la permission requise."

    ActionRun.objects.filter(pk=run.pk).update(status=ActionRun.Status.FAILED)
    run.refresh_from_db()
    client_company.is_client = False
    client_company.save()
    with pytest.raises(actions.ActionUnavailable) as refusal:
        actions.relaunch(run, user)
    assert str(refusal.value) == "Action non applicable dans l'état actuel."

    client_company.is_client = True
    client_company.save()
    again, _ = actions.start(actions.get(SendGreeting.key), client_company, user, "k-2")
    assert actions.relaunch(run, user).pk == again.pk  # a newer click already works on it: that one is shown
    run.refresh_from_db()
    assert run.status == ActionRun.Status.FAILED

    client_company.delete()
    with pytest.raises(actions.ActionUnavailable) as refusal:
        actions.relaunch(run, user)
    assert str(refusal.value) == "Le dossier de cette action n'existe plus."


def test_relaunching_a_payment_that_needs_approval_says_it_waits_again(client_company, default_queue,
                                                                      django_capture_on_commit_callbacks):
    from apps.hub.models import Company as Hub

    supplier = Hub.objects.create(name="Gros fournisseur", is_client=False)
    run, _ = actions.start(actions.get(PaySupplier.key), supplier, make_user("lea", "pay_suppliers"), "paiement")
    ActionRun.objects.filter(pk=run.pk).update(status=ActionRun.Status.FAILED)
    run.refresh_from_db()

    with django_capture_on_commit_callbacks(execute=True):
        relaunched = actions.relaunch(run, make_user("paul", "pay_suppliers"))

    assert relaunched.message == "Relancée par paul ; en attente d'un second approbateur."
    assert relaunched.queued_at is None and default_queue.count == 0  # nothing runs before the approval


def test_relaunch_is_not_taken_for_another_action_working_on_the_same_record(client_company, default_queue):
    user = make_user("lea", "send_emails", "pay_suppliers")
    greeting, _ = actions.start(actions.get(SendGreeting.key), client_company, user, "k-greet")
    ActionRun.objects.filter(pk=greeting.pk).update(status=ActionRun.Status.FAILED)
    greeting.refresh_from_db()
    payment, _ = actions.start(actions.get(PaySupplier.key), client_company, user, "k-pay")
    assert payment.status == ActionRun.Status.RUNNING

    relaunched = actions.relaunch(greeting, user)

    assert (relaunched.pk, relaunched.status) == (greeting.pk, ActionRun.Status.RUNNING)


def test_two_people_relaunching_at_once_relaunch_it_once_in_the_name_of_the_first(client_company, default_queue):
    user = make_user("lea", "send_emails")
    run, _ = actions.start(actions.get(SendGreeting.key), client_company, user, "k-1")
    ActionRun.objects.filter(pk=run.pk).update(status=ActionRun.Status.FAILED)
    run.refresh_from_db()
    action = actions.get(SendGreeting.key)
    other_person = make_user("marc", "send_emails")
    landed = []

    def the_other_relaunch_lands_meanwhile(obj, user):
        if not landed:
            landed.append(True)
            actions.relaunch(ActionRun.objects.get(pk=run.pk), other_person)
        return False

    action.needs_approval = the_other_relaunch_lands_meanwhile
    try:
        relaunched = actions.relaunch(run, make_user("paul", "send_emails"))
    finally:
        del action.needs_approval

    assert relaunched.message == "Relancée par marc ; en cours…"


def test_an_approved_payment_whose_job_was_lost_is_queued_again_by_the_sweep(default_queue, redis_down):
    from django.db.models import F

    from apps.hub.models import Company as Hub

    held, _ = actions.start(actions.get(PaySupplier.key), Hub.objects.create(name="Gros fournisseur"),
                            make_user("lea", "pay_suppliers"), "k-held")
    approved = actions.approve(held, make_user("zoe", "approve_payments"))  # Redis is down: its job never left
    redis_down.undo()
    assert approved.queued_at > timezone.now() - timedelta(seconds=5)
    ActionRun.objects.filter(pk=held.pk).update(queued_at=F("queued_at") - timedelta(seconds=30))

    assert actions.recover_stalled_runs() == {"requeued": 1, "failed": 0}
    assert [job.id for job in default_queue.get_jobs()] == [actions.job_id_for(held.pk)]


def test_giving_up_one_run_leaves_the_others_and_is_announced(client_company, default_queue, redis_down,
                                                              announced):
    user = make_user("lea", "send_emails")
    late = clicked_while_redis_was_down(redis_down, client_company, user, key="k-late")
    lost = clicked_while_redis_was_down(redis_down, Company.objects.create(name="Autre", is_client=True), user,
                                        key="k-lost")
    age(late, minutes=61)
    age(lost, seconds=30)
    announced.clear()
    assert actions.recover_stalled_runs() == {"requeued": 1, "failed": 1}

    lost.refresh_from_db()
    assert (lost.status, lost.message) == (ActionRun.Status.RUNNING, "Remise en file : sa tâche avait été perdue.")
    assert announced == [(late.pk, ActionRun.Status.FAILED), (lost.pk, ActionRun.Status.RUNNING)]


@pytest.mark.parametrize("meanwhile, attempts", [("finished", 3), ("claimed", 3), ("finished", 1)])
def test_a_run_a_worker_finished_or_claimed_while_the_sweep_looked_is_left_as_it_is(client_company, default_queue,
                                                                                   redis_down, meanwhile, attempts):
    from apps.core import jobs

    run = clicked_while_redis_was_down(redis_down, client_company, make_user("lea", "send_emails"))
    long_ago = timezone.now() - timedelta(minutes=90)
    ActionRun.objects.filter(pk=run.pk).update(queued_at=long_ago, started_at=long_ago, heartbeat_at=long_ago,
                                               attempts=attempts)

    def a_worker_acts_meanwhile(job_ids, queue):
        if meanwhile == "finished":
            ActionRun.objects.filter(pk=run.pk).update(status=ActionRun.Status.SUCCEEDED, message="Bonjour envoyé")
        else:
            ActionRun.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now(), attempts=4)
        return set()

    redis_down.setattr(jobs, "live_job_ids", a_worker_acts_meanwhile)
    assert actions.recover_stalled_runs()["failed"] == 0
    run.refresh_from_db()
    if meanwhile == "finished":
        assert (run.status, run.message) == (ActionRun.Status.SUCCEEDED, "Bonjour envoyé")
    else:
        assert run.status == ActionRun.Status.RUNNING


def test_a_worker_that_died_mid_action_is_resumed_not_taken_for_a_run_that_never_started(client_company,
                                                                                      default_queue, monkeypatch):
    user = make_user("lea", "send_emails")
    run, _ = actions.start(actions.get(SendGreeting.key), client_company, user, "k-died")

    def the_worker_is_killed(self, obj, run):
        raise SystemExit("SIGKILL")

    monkeypatch.setattr(SendGreeting, "run", the_worker_is_killed)
    with pytest.raises(SystemExit):
        actions.execute(run.pk)
    long_ago = timezone.now() - timedelta(minutes=90)
    ActionRun.objects.filter(pk=run.pk).update(queued_at=long_ago, heartbeat_at=long_ago)

    assert actions.recover_stalled_runs() == {"requeued": 1, "failed": 0}
    run.refresh_from_db()
    assert (run.status, run.message) == (ActionRun.Status.RUNNING, "Reprise après l'arrêt du worker (tentative 2)…")


def test_the_sweep_leaves_finished_runs_alone(client_company, default_queue):
    user = make_user("lea", "send_emails")
    for status in (ActionRun.Status.SUCCEEDED, ActionRun.Status.FAILED, ActionRun.Status.REFUSED):
        run, _ = actions.start(actions.get(SendGreeting.key), client_company, user, f"k-{status}")
        ActionRun.objects.filter(pk=run.pk).update(status=status, queued_at=timezone.now() - timedelta(seconds=30))
    default_queue.empty()

    assert actions.recover_stalled_runs() == {"requeued": 0, "failed": 0}
    assert default_queue.count == 0


def test_a_run_whose_job_waits_in_the_queue_is_left_to_it_and_the_lost_ones_after_it_are_queued(
        client_company, default_queue, redis_down, django_capture_on_commit_callbacks):
    user = make_user("lea", "send_emails")
    lost = clicked_while_redis_was_down(redis_down, Company.objects.create(name="Autre", is_client=True), user,
                                        key="k-lost")
    redis_down.setattr(django_rq, "get_queue", redis_unreachable)  # down again for the next click
    also_lost, _ = actions.start(actions.get(SendGreeting.key), Company.objects.create(name="Tiers", is_client=True),
                                 user, "k-also-lost")
    redis_down.undo()
    with django_capture_on_commit_callbacks(execute=True):
        waiting, _ = actions.start(actions.get(SendGreeting.key), client_company, user, "k-waiting")
    age(waiting, seconds=40)  # looked at first: no worker took its job yet
    age(lost, seconds=20)
    age(also_lost, seconds=19)

    assert actions.recover_stalled_runs() == {"requeued": 2, "failed": 0}
    for run in (waiting, lost, also_lost):
        run.refresh_from_db()
    assert (waiting.message, lost.message, also_lost.message) == (
        "En cours…", "Remise en file : sa tâche avait été perdue.", "Remise en file : sa tâche avait été perdue.")
    assert sorted(job.id for job in default_queue.get_jobs()) == sorted(
        actions.job_id_for(run.pk) for run in (waiting, lost, also_lost))


def test_when_redis_goes_away_during_the_sweep_it_stops_and_says_what_it_did(client_company, default_queue,
                                                                            redis_down):
    from apps.core import jobs

    user = make_user("lea", "send_emails")
    first = clicked_while_redis_was_down(redis_down, client_company, user, key="k-first")
    redis_down.setattr(django_rq, "get_queue", redis_unreachable)  # down again for the next click
    second, _ = actions.start(actions.get(SendGreeting.key), Company.objects.create(name="Autre", is_client=True),
                              user, "k-second")
    redis_down.undo()
    age(first, seconds=40)
    age(second, seconds=30)
    enqueue_now = jobs.enqueue_now
    calls = []

    def redis_answers_once(*args, **kwargs):
        calls.append(args)
        return enqueue_now(*args, **kwargs) if len(calls) == 1 else None

    redis_down.setattr(jobs, "enqueue_now", redis_answers_once)
    assert actions.recover_stalled_runs() == {"requeued": 1, "failed": 0}
    second.refresh_from_db()
    assert second.message == "En cours…"  # left for the next sweep


def test_a_click_whose_job_never_reached_redis_is_queued_again_15_seconds_later(client_company, default_queue,
                                                                              redis_down):
    from django.db.models import F

    run = clicked_while_redis_was_down(redis_down, client_company, make_user("lea", "send_emails"))
    assert run.queued_at > timezone.now() - timedelta(seconds=5)  # the click's own time, not the test's
    ActionRun.objects.filter(pk=run.pk).update(queued_at=F("queued_at") - timedelta(seconds=16))

    assert actions.recover_stalled_runs() == {"requeued": 1, "failed": 0}
