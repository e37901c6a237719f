"""The periodic scheduler against a real Redis: what gets enqueued when, and only one active scheduler."""

import time

import django_rq
import pytest
from django.core.management import call_command
from rq import SimpleWorker

from apps.core import scheduler as scheduler_module
from apps.core.scheduler import LOCK_KEY, PeriodicJob, Scheduler, every

TICK_COUNTER = "test:scheduler:ticks"


def count_tick():
    """The periodic job the tests schedule: counts its runs in Redis."""
    django_rq.get_connection("default").incr(TICK_COUNTER)


BALANCES = PeriodicJob(name="balances", func="tests.core.test_scheduler.count_tick", seconds=60, queue="sync")
SWEEPER = PeriodicJob(name="sweeper", func="tests.core.test_scheduler.count_tick", seconds=300)


class Clock:
    def __init__(self, now=1_800_000_000.0):
        self.now = now

    def __call__(self):
        return self.now


@pytest.fixture
def redis(redis_connection):
    return django_rq.get_connection("default")


@pytest.fixture
def registry(monkeypatch):
    monkeypatch.setattr(scheduler_module, "_registry", {})
    return scheduler_module._registry


def queued_functions(queue_name):
    return [job.func_name for job in django_rq.get_queue(queue_name).get_jobs()]


def run_worker(redis):
    SimpleWorker(["default", "sync"], connection=redis).work(burst=True)


def test_first_tick_enqueues_every_job_on_its_queue(redis):
    scheduler = Scheduler(redis, [BALANCES, SWEEPER], clock=Clock())
    assert sorted(scheduler.tick()) == ["balances", "sweeper"]
    assert queued_functions("sync") == ["tests.core.test_scheduler.count_tick"]
    assert queued_functions("default") == ["tests.core.test_scheduler.count_tick"]


def test_a_sixty_second_job_runs_once_per_minute(redis):
    clock = Clock()
    scheduler = Scheduler(redis, [BALANCES], clock=clock)
    assert scheduler.tick() == ["balances"]
    run_worker(redis)
    clock.now += 59
    assert scheduler.tick() == []
    clock.now += 1
    assert scheduler.tick() == ["balances"]
    run_worker(redis)
    assert int(redis.get(TICK_COUNTER)) == 2


def test_a_restarted_scheduler_does_not_fire_again_before_the_period(redis):
    clock = Clock()
    first = Scheduler(redis, [BALANCES], clock=clock)
    assert first.tick() == ["balances"]
    first.release_lock()
    run_worker(redis)

    clock.now += 30
    restarted = Scheduler(redis, [BALANCES], clock=clock)
    assert restarted.tick() == []
    clock.now += 30
    assert restarted.tick() == ["balances"]


def test_a_job_still_waiting_for_a_worker_is_not_enqueued_twice(redis):
    clock = Clock()
    scheduler = Scheduler(redis, [BALANCES], clock=clock)
    assert scheduler.tick() == ["balances"]
    clock.now += 600  # ten periods without a worker
    assert scheduler.tick() == []
    assert len(queued_functions("sync")) == 1
    run_worker(redis)
    assert scheduler.tick() == ["balances"]


def test_only_one_scheduler_enqueues_while_the_other_waits(redis):
    clock = Clock()
    active = Scheduler(redis, [BALANCES], clock=clock)
    standby = Scheduler(redis, [BALANCES], clock=clock)
    assert active.tick() == ["balances"]
    run_worker(redis)
    clock.now += 60
    assert standby.tick() == []
    assert queued_functions("sync") == []

    active.release_lock()
    assert standby.tick() == ["balances"]
    assert not active.hold_lock()


def test_the_lock_is_a_lease_that_expires_if_its_holder_dies(redis):
    assert Scheduler(redis, [], lock_ttl_seconds=30).hold_lock()
    assert 0 < redis.pttl(LOCK_KEY) <= 30_000

    redis.delete(LOCK_KEY)
    crashed = Scheduler(redis, [], lock_ttl_seconds=0.2)
    assert crashed.hold_lock()
    successor = Scheduler(redis, [])
    assert not successor.hold_lock()
    time.sleep(0.3)  # the crashed holder never renews
    assert successor.hold_lock()


def test_release_only_drops_the_lock_of_its_holder(redis):
    holder = Scheduler(redis, [])
    other = Scheduler(redis, [])
    assert holder.hold_lock()
    other.release_lock()
    assert redis.get(LOCK_KEY).decode() == holder.token


def test_every_validates_its_arguments(registry):
    job = every(60, "apps.revolut.jobs.refresh_balances", queue="sync")
    assert registry == {"apps.revolut.jobs.refresh_balances": job}
    with pytest.raises(ValueError):
        every(60, count_tick)
    with pytest.raises(ValueError):
        every(0, "apps.x.jobs.y")
    with pytest.raises(ValueError):
        every(60, "apps.x.jobs.y", queue="emails")


def test_command_once_enqueues_the_registered_jobs(redis, registry, capsys):
    every(60, "tests.core.test_scheduler.count_tick", queue="sync", name="balances")
    call_command("scheduler", "--once")
    assert "balances" in capsys.readouterr().out
    assert queued_functions("sync") == ["tests.core.test_scheduler.count_tick"]
    assert not redis.exists(LOCK_KEY)


def test_command_once_stands_by_when_another_scheduler_is_active(redis, registry, capsys):
    every(60, "tests.core.test_scheduler.count_tick", queue="sync", name="balances")
    assert Scheduler(redis, []).hold_lock()
    call_command("scheduler", "--once")
    assert "Un autre planificateur est actif" in capsys.readouterr().out
    assert queued_functions("sync") == []
