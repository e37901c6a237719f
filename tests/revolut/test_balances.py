"""Treasury: balances refreshed with a history, stale data flagged, pushed live to permitted sockets only."""

from datetime import timedelta
from decimal import Decimal

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.conf import settings
from django.test import Client
from django.utils import timezone

from apps.revolut import balances
from apps.revolut.models import BalanceSnapshot, RevolutAccount
from tests.live_socket import LiveSocket, socket_headers
from tests.revolut.conftest import API, EUR_ACCOUNT_ID, make_connection, user_with

SOCKET_PATH = "/ws/live/revolut.balances/"


def accounts_payload(eur="12500.50", gbp="800.00"):
    return [
        {"id": EUR_ACCOUNT_ID, "name": "Principal", "balance": float(eur), "currency": "EUR", "state": "active",
         "public": False, "created_at": "2025-01-01T00:00:00Z", "updated_at": "2026-03-02T10:00:00Z"},
        {"id": "b7c4b7a6-1111-4c5e-9e69-35f7d6f1c001", "name": "Livres", "balance": float(gbp), "currency": "GBP",
         "state": "active", "public": False, "created_at": "2025-01-01T00:00:00Z",
         "updated_at": "2026-03-02T10:00:00Z"},
    ]


@pytest.mark.django_db
def test_refresh_keeps_one_snapshot_per_change_and_confirms_unchanged_balances(revolut, api):
    api.get(f"{API}/accounts", json=accounts_payload())
    balances.refresh(revolut)
    eur = RevolutAccount.objects.get(external_id=EUR_ACCOUNT_ID)
    assert (eur.name, eur.currency, eur.balance, eur.state) == ("Principal", "EUR", Decimal("12500.50"), "active")
    first_confirmation = eur.confirmed_at

    balances.refresh(revolut)  # same figures a minute later
    eur.refresh_from_db()
    assert eur.snapshots.count() == 1 and eur.confirmed_at > first_confirmation

    api.replace("GET", f"{API}/accounts", json=accounts_payload(eur="12020.50"))
    balances.refresh(revolut)
    assert list(eur.snapshots.order_by("recorded_at").values_list("balance", flat=True)) == [
        Decimal("12500.50"), Decimal("12020.50")]


@pytest.mark.django_db
def test_the_page_flags_data_older_than_three_minutes_and_draws_a_history(revolut):
    account = RevolutAccount.objects.create(connection=revolut, external_id=EUR_ACCOUNT_ID, name="Principal",
                                            currency="EUR", balance=Decimal("900"), state="active",
                                            seen_at=timezone.now() - timedelta(minutes=4))
    for minutes_ago, value in ((30, "1000"), (10, "900")):
        BalanceSnapshot.objects.create(account=account, balance=Decimal(value),
                                       recorded_at=timezone.now() - timedelta(minutes=minutes_ago))
    client = Client()
    client.force_login(user_with("tresorerie", "view_console", "view_balances"))
    page = client.get("/revolut/balances/").content.decode()
    assert "Données anciennes" in page
    assert f'id="revolut-account-{account.pk}"' in page
    assert "<polyline points=" in page and "2 valeurs" in page
    assert 'ws-connect="/ws/live/revolut.balances/"' in page
    assert "<script>" not in page  # CSP: nothing inline without a nonce

    RevolutAccount.objects.filter(pk=account.pk).update(seen_at=timezone.now())
    assert "Données anciennes" not in client.get("/revolut/balances/cards/").content.decode()


@pytest.mark.django_db
def test_the_page_needs_the_view_balances_permission(revolut):
    client = Client()
    client.force_login(user_with("comptable", "view_console", "pay_suppliers"))
    assert client.get("/revolut/balances/").status_code == 403
    assert Client().get("/revolut/balances/").status_code == 302  # anonymous: to the login page


async def open_socket(user=None):
    cookie = b""
    if user is not None:
        client = Client()
        await sync_to_async(client.force_login)(user)
        cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}".encode()
    communicator = LiveSocket(SOCKET_PATH, socket_headers(cookie))
    accepted, _code = await communicator.connect()
    return communicator, accepted


@pytest.mark.django_db(transaction=True)
def test_the_balances_socket_refuses_anonymous_and_users_without_the_permission():
    accountant = user_with("comptable", "view_console", "pay_suppliers")
    treasurer = user_with("tresorerie", "view_console", "view_balances")

    async def scenario():
        results = []
        for user in (None, accountant, treasurer):
            communicator, connected = await open_socket(user)
            results.append(connected)
            await communicator.disconnect()
        return results

    assert async_to_sync(scenario)() == [False, False, True]


@pytest.mark.django_db(transaction=True)
def test_a_refresh_pushes_the_changed_card_to_treasury(api):
    connection = make_connection("https://sandbox-b2b.revolut.com/api/1.0")
    treasurer = user_with("tresorerie", "view_console", "view_balances")
    api.get(f"{API}/accounts", json=accounts_payload(eur="4321.00"))

    async def scenario():
        communicator, connected = await open_socket(treasurer)
        assert connected
        await sync_to_async(balances.refresh)(connection)
        account = await RevolutAccount.objects.aget(external_id=EUR_ACCOUNT_ID)
        received = ""
        while f'id="revolut-account-{account.pk}"' not in received:
            received = await communicator.receive_from(timeout=5)
        await communicator.disconnect()
        return received

    received = async_to_sync(scenario)()
    assert 'hx-swap-oob="true"' in received
    assert 'data-balance="4321.00"' in received and "4\u202f321,00\xa0€" in received
