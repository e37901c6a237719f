"""A balance refresh renders its cards once and pushes one fragment, whatever the number of accounts or sockets."""

from decimal import Decimal

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import connection as db
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from redis._defaults import DEFAULT_SOCKET_TIMEOUT

from apps.core import live
from apps.revolut import balances
from apps.revolut.models import BalanceSnapshot, RevolutAccount
from tests.revolut.conftest import API, EUR_ACCOUNT_ID


def accounts(count, base="1000.00"):
    return [{"id": EUR_ACCOUNT_ID if n == 0 else f"acc-{n}", "name": f"Compte {n}", "balance": float(base) + n,
             "currency": "EUR", "state": "active", "created_at": "2025-01-01T00:00:00Z",
             "updated_at": "2026-03-02T10:00:00Z"} for n in range(count)]


@pytest.fixture
def pushed(monkeypatch):
    fragments = []
    original = live.push_html

    def recording(group, html):
        fragments.append((group, html))
        original(group, html)

    monkeypatch.setattr(live, "push_html", recording)
    return fragments


@pytest.mark.django_db
def test_a_refresh_that_moves_every_balance_pushes_one_fragment_with_every_card(revolut, api, pushed,
                                                                                 django_capture_on_commit_callbacks):
    api.get(f"{API}/accounts", json=accounts(3))
    with django_capture_on_commit_callbacks(execute=True):
        balances.refresh(revolut)
    assert len(pushed) == 1
    group, html = pushed[0]
    assert group == balances.LIVE_GROUP
    for account in RevolutAccount.objects.all():
        assert html.count(f'id="revolut-account-{account.pk}"') == 1
    assert BalanceSnapshot.objects.count() == 3  # every change still recorded


@pytest.mark.django_db
def test_rendering_the_cards_costs_the_same_queries_for_two_or_twenty_accounts(revolut):
    def seed(count):
        RevolutAccount.objects.all().delete()
        for n in range(count):
            account = RevolutAccount.objects.create(connection=revolut, external_id=f"a{n}", name=f"C{n}",
                                                    currency="EUR", balance=Decimal(n), state="active",
                                                    seen_at=timezone.now())
            for value in range(3):
                BalanceSnapshot.objects.create(account=account, balance=Decimal(value), recorded_at=timezone.now())
        return list(RevolutAccount.objects.values_list("pk", flat=True))

    counts = []
    for count in (2, 20):
        ids = seed(count)
        with CaptureQueriesContext(db) as queries:
            balances.push_accounts(ids)
        counts.append(len(queries))
    assert counts[0] == counts[1] <= 2


def test_the_live_layer_reads_longer_than_its_blocking_pop_waits():
    """A socket idle for a while must not die with a read timeout while Redis is simply saying "nothing yet"."""
    async def read_timeout_and_pop_timeout():
        layer = get_channel_layer()
        return layer.connection(0).connection_pool.connection_kwargs.get("socket_timeout"), layer.brpop_timeout

    socket_timeout, pop_timeout = async_to_sync(read_timeout_and_pop_timeout)()
    # redis-py 8 reads with a 5 s timeout unless told otherwise: as long as the blocking pop, so they race.
    assert (socket_timeout or DEFAULT_SOCKET_TIMEOUT) > pop_timeout
