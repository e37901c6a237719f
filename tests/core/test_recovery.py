"""Recovery in seconds, with real processes: a worker killed mid-job, a Redis that dies and comes back.

Each test runs its own redis-server (killed and restarted on the same port, data lost like a crash without
persistence), real `rqworker` processes and the console's scheduler, all on the test database.
"""

import time

import pytest
from django.db import connection as db_connection

from apps.core import actions, providers
from apps.core.embedded_redis import EmbeddedRedis
from apps.core.models import ActionRun, TimelineEntry, WebhookEvent
from tests.core.action_doubles import SendGreeting, make_user
from tests.core.action_doubles import client_company, registered_actions  # noqa: F401
from tests.core.recovery_processes import Processes, database_url, kill_group, registered_workers, wait_for
from tests.core.recovery_worker import SLOW_EVENT, slow_greeting_class, slow_on_first_attempt
from tests.core.webhook_doubles import HANDLED_TYPE, Base64BodyScheme, record_effect, registered_hook

Status = WebhookEvent.Status
RECOVERY_DEADLINE_SECONDS = 60


@pytest.fixture
def private_redis(tmp_path):
    server = EmbeddedRedis(workdir=tmp_path / "redis")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def processes(transactional_db, private_redis, tmp_path, settings):
    """Children on the test database and the private Redis; this test process enqueues on that Redis too."""
    settings.RQ_QUEUES = {name: dict(config, URL=private_redis.url) for name, config in settings.RQ_QUEUES.items()}
    running = Processes(database=database_url(db_connection.settings_dict), redis_url=private_redis.url,
                        log_dir=tmp_path)
    yield running
    running.stop()


@pytest.fixture
def hook(transactional_db):
    # The same handlers as the workers' (recovery_worker.py): the inbox ignores types without one.
    hook = registered_hook(Base64BodyScheme, handlers={HANDLED_TYPE: record_effect, SLOW_EVENT: slow_on_first_attempt})
    yield hook
    providers.unregister(hook.scheme.provider_key)


def status_of(event_id):
    return WebhookEvent.objects.get(pk=event_id).status


def test_an_event_whose_worker_is_killed_mid_job_is_processed_by_another_worker_within_60_s(
        processes, private_redis, hook):
    first = processes.worker("worker-1", "webhooks")
    processes.scheduler()
    wait_for(lambda: "worker-1" in registered_workers(private_redis.url), timeout=60, processes=processes,
             what="worker-1 enregistré")
    assert hook.post(type=SLOW_EVENT, sleep=300).status_code == 200
    event = WebhookEvent.objects.get()
    wait_for(lambda: status_of(event.pk) == Status.PROCESSING, timeout=30, processes=processes,
             what="worker-1 traite l'événement")

    kill_group(first)
    processes.worker("worker-2", "webhooks")
    elapsed = wait_for(lambda: status_of(event.pk) == Status.PROCESSED, timeout=RECOVERY_DEADLINE_SECONDS,
                       processes=processes, what="l'événement abandonné est traité par worker-2")

    event.refresh_from_db()
    assert event.attempts == 2 and TimelineEntry.objects.count() == 1, elapsed


def test_the_worker_survives_a_redis_outage_and_what_arrived_meanwhile_is_processed_within_60_s(
        processes, private_redis, hook):
    worker = processes.worker("worker-1")
    processes.scheduler()
    wait_for(lambda: "worker-1" in registered_workers(private_redis.url), timeout=60, processes=processes,
             what="worker-1 enregistré")
    assert hook.post(type=SLOW_EVENT, sleep=4).status_code == 200
    wait_for(lambda: WebhookEvent.objects.filter(status=Status.PROCESSING).exists(), timeout=30,
             processes=processes, what="worker-1 traite le premier événement")

    private_redis.kill()  # mid-job: the job ends while Redis is away
    for _ in range(5):
        assert hook.post().status_code == 200  # acknowledged: stored, Redis unreachable
    assert WebhookEvent.objects.filter(status=Status.RECEIVED).count() == 5
    time.sleep(10)
    assert worker.is_running(), processes.logs()

    private_redis.restart()
    elapsed = wait_for(lambda: WebhookEvent.objects.filter(status=Status.PROCESSED).count() == 6,
                       timeout=RECOVERY_DEADLINE_SECONDS, processes=processes,
                       what="les 5 événements reçus pendant la panne sont traités")
    assert worker.is_running() and TimelineEntry.objects.count() == 6, elapsed
    wait_for(lambda: "worker-1" in registered_workers(private_redis.url), timeout=30, processes=processes,
             what="worker-1 de nouveau enregistré")


def test_an_action_clicked_while_redis_was_down_runs_once_within_60_s_of_its_return(
        processes, private_redis, registered_actions, client_company):  # noqa: F811
    processes.worker("worker-1", "default")
    processes.scheduler()
    wait_for(lambda: "worker-1" in registered_workers(private_redis.url), timeout=60, processes=processes,
             what="worker-1 enregistré")
    user = make_user("lea", "send_emails")

    private_redis.kill()
    run, created = actions.start(actions.get(SendGreeting.key), client_company, user, "clic-pendant-la-panne")
    assert created
    time.sleep(3)
    private_redis.restart()

    wait_for(lambda: ActionRun.objects.get(pk=run.pk).status == ActionRun.Status.SUCCEEDED,
             timeout=RECOVERY_DEADLINE_SECONDS, processes=processes, what="l'action part au retour de Redis")
    run.refresh_from_db()
    assert run.idempotency_key == "clic-pendant-la-panne"
    assert run.message == "Bonjour envoyé à Atelier Dupont"
    assert ActionRun.objects.count() == 1




def test_an_action_whose_worker_is_killed_mid_run_is_resumed_by_another_worker_within_60_s(
        processes, private_redis, registered_actions, client_company):  # noqa: F811
    slow_greeting = actions.register(slow_greeting_class())
    first = processes.worker("worker-1", "default")
    processes.scheduler()
    wait_for(lambda: "worker-1" in registered_workers(private_redis.url), timeout=60, processes=processes,
             what="worker-1 enregistré")
    run, _ = actions.start(actions.get(slow_greeting.key), client_company, make_user("lea", "send_emails"), "lent")
    wait_for(lambda: ActionRun.objects.get(pk=run.pk).started_at is not None, timeout=30, processes=processes,
             what="worker-1 exécute l'action")

    kill_group(first)
    processes.worker("worker-2", "default")
    wait_for(lambda: ActionRun.objects.get(pk=run.pk).status == ActionRun.Status.SUCCEEDED,
             timeout=RECOVERY_DEADLINE_SECONDS, processes=processes, what="l'action reprise par worker-2")
    run.refresh_from_db()
    assert (run.attempts, run.idempotency_key, ActionRun.objects.count()) == (2, "lent", 1)
