"""Coalesced jobs: a burst of requests for the same follow-up runs it `burst` times plus once per window."""

import time

import django_rq
import pytest
from rq import SimpleWorker
from rq.registry import ScheduledJobRegistry

from apps.core import coalesce

RUNS_KEY = "test:coalesce:runs"


def record_run(label):
    django_rq.get_connection("default").rpush(RUNS_KEY, label)


def runs(redis):
    return [value.decode() for value in redis.lrange(RUNS_KEY, 0, -1)]


def work(redis, *, with_scheduler=False):
    queues = [django_rq.get_queue("default")]
    SimpleWorker(queues, connection=queues[0].connection).work(burst=True, with_scheduler=with_scheduler)


def test_a_burst_runs_once_now_and_once_after_the_window(redis_connection):
    answers = [coalesce.request("balances.1", record_run, "balances.1", window=2) for _ in range(50)]
    assert answers == ["now", "scheduled"] + ["coalesced"] * 48
    assert django_rq.get_queue("default").count == 1
    assert ScheduledJobRegistry(queue=django_rq.get_queue("default")).count == 1

    work(redis_connection)
    assert runs(redis_connection) == ["balances.1"]  # the trailing run waits for the end of the window

    time.sleep(2.1)
    work(redis_connection, with_scheduler=True)
    assert runs(redis_connection) == ["balances.1", "balances.1"]


def test_keys_are_independent_and_burst_allows_that_many_immediate_runs(redis_connection):
    assert [coalesce.request("a", record_run, "a", window=5, burst=2) for _ in range(3)] == [
        "now", "now", "scheduled"]
    assert coalesce.request("b", record_run, "b", window=5) == "now"
    work(redis_connection)
    assert sorted(runs(redis_connection)) == ["a", "a", "b"]


def test_a_request_after_the_trailing_run_started_gets_its_own_later_run(redis_connection):
    assert [coalesce.request("k", record_run, "k", window=2) for _ in range(2)] == ["now", "scheduled"]
    work(redis_connection)
    time.sleep(2.1)
    work(redis_connection, with_scheduler=True)  # the trailing run starts: it counts in the new window
    assert runs(redis_connection) == ["k", "k"]
    # Not lost, and not run at once either: the new window already had its run.
    assert coalesce.request("k", record_run, "k", window=2) == "scheduled"
    time.sleep(2.1)
    work(redis_connection, with_scheduler=True)
    assert runs(redis_connection) == ["k", "k", "k"]


def test_redis_down_drops_the_request_without_raising(settings, monkeypatch):
    def unreachable(*args, **kwargs):
        from redis.exceptions import ConnectionError

        raise ConnectionError("refused")

    monkeypatch.setattr(django_rq, "get_queue", unreachable)
    assert coalesce.request("k", record_run, "k") == "dropped"
