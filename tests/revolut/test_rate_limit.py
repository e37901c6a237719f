"""60 requests a minute per business, shared by every worker: wait for a slot rather than meet a 429."""

import time

import pytest

from apps.core.http import ApiClient, RateLimited
from apps.revolut.client import RevolutClient
from apps.revolut.rate_limit import RequestBudget
from tests.revolut.conftest import API

pytestmark = pytest.mark.django_db


def test_two_workers_share_one_budget_and_the_extra_call_waits_instead_of_being_sent(revolut, api, settings,
                                                                                     monkeypatch):
    settings.REVOLUT_REQUESTS_PER_MINUTE = 3
    waits = []
    monkeypatch.setattr(RequestBudget, "sleep", staticmethod(waits.append))
    api.get(f"{API}/accounts", json=[])
    first_worker, second_worker = RevolutClient(revolut), RevolutClient(revolut)
    first_worker.list_accounts()
    second_worker.list_accounts()
    first_worker.list_accounts()
    with pytest.raises(RateLimited):  # sleeping is stubbed here, so the window never frees up
        second_worker.list_accounts()
    assert len(api.calls) == 3
    assert waits and all(0 < wait <= 60 for wait in waits)


def test_a_slot_frees_when_the_oldest_call_leaves_the_window():
    budget = RequestBudget("window-test", limit=2, window_seconds=1)
    other_process = RequestBudget("window-test", limit=2, window_seconds=1)
    started = time.monotonic()
    budget.acquire()
    other_process.acquire()
    assert other_process.try_reserve() > 0
    budget.acquire()  # waits for the first slot to expire
    assert 0.8 <= time.monotonic() - started < 3


def test_a_429_from_revolut_waits_for_retry_after_then_retries(revolut, api, monkeypatch):
    waits = []
    monkeypatch.setattr(ApiClient, "sleep", staticmethod(waits.append))
    api.get(f"{API}/accounts", status=429, headers={"Retry-After": "7"},
            json={"code": 3162, "message": "Request rate limit has been reached. Try again later."})
    api.get(f"{API}/accounts", json=[{"id": "a"}])
    assert RevolutClient(revolut).list_accounts() == [{"id": "a"}]
    assert waits == [7.0]
