"""Balances: refresh from Revolut, keep a snapshot per change, and push the re-rendered cards live.

The "Soldes en direct" page listens on the `revolut.balances` group; each card carries a stable id
and hx-swap-oob, so a pushed card replaces its twin on every open page. A refresh renders its cards once
(one query for the accounts, one for all their histories) and pushes that one fragment to the group, however
many sockets listen; the snapshots it records do not push again on their own.
"""

from __future__ import annotations

import logging
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

import redis
from django.conf import settings
from django.db import transaction
from django.db.models import F, Window
from django.db.models.functions import RowNumber
from django.utils import timezone

from apps.core import live
from apps.core.models import Connection

logger = logging.getLogger(__name__)

LIVE_GROUP = "revolut.balances"
STALE_AFTER = timedelta(minutes=3)
HISTORY_POINTS = 30
CHART_WIDTH, CHART_HEIGHT = 220, 48

# True while balances.refresh() runs: it pushes every card it read once, so a snapshot does not push its own.
_refresh_pushes = ContextVar("revolut_refresh_pushes", default=False)


def record_snapshot(account) -> bool:
    """Add a history point if the balance differs from the last one; True when one was added."""
    from apps.revolut.models import BalanceSnapshot

    last = account.snapshots.order_by("-recorded_at", "-id").first()
    if last is not None and last.balance == account.balance:
        return False
    BalanceSnapshot.objects.create(account=account, balance=account.balance, recorded_at=timezone.now())
    if not _refresh_pushes.get():
        transaction.on_commit(lambda: push_accounts([account.pk]))
    return True


def refresh(connection: Connection) -> int:
    """Read every account of the business now; returns how many accounts were listed.

    One refresh per business at a time (scheduler and webhooks may ask together): the second waits
    for the first and then reads again, so the newest balance always wins.
    """
    from apps.revolut.sync import AccountsResource, store

    lock = redis.Redis.from_url(settings.REDIS_URL).lock(
        f"revolut:balances:{connection.pk}", timeout=60, blocking_timeout=60
    )
    with lock:
        items = AccountsResource(connection, run=None).client.list_accounts()
        token = _refresh_pushes.set(True)
        try:
            with transaction.atomic():
                records = store(connection, AccountsResource, items)
        finally:
            _refresh_pushes.reset(token)
    push_accounts(records)  # the accounts just stored: only their histories are read again
    return len(records)


# Rendering -------------------------------------------------------------------------------------------------
@dataclass
class AccountCard:
    account: object
    confirmed_at: object
    is_stale: bool
    chart_points: str
    chart_min: Decimal | None
    chart_max: Decimal | None
    history_count: int


def cards_for(accounts, now=None) -> list[AccountCard]:
    """The cards of these accounts, their last HISTORY_POINTS snapshots read in one query."""
    from apps.revolut.models import BalanceSnapshot

    now = now or timezone.now()
    accounts = list(accounts)
    histories = {account.pk: [] for account in accounts}
    if accounts:
        latest = BalanceSnapshot.objects.filter(account__in=accounts).annotate(
            position=Window(RowNumber(), partition_by=[F("account_id")],
                            order_by=[F("recorded_at").desc(), F("id").desc()])
        ).filter(position__lte=HISTORY_POINTS).order_by("account_id", "recorded_at", "id")
        for snapshot in latest:
            histories[snapshot.account_id].append(snapshot)
    return [_card(account, histories[account.pk], now) for account in accounts]


def card_for(account, now=None) -> AccountCard:
    return cards_for([account], now)[0]


def _card(account, history, now) -> AccountCard:
    confirmed_at = account.confirmed_at
    points, low, high = chart_polyline(history, now)
    return AccountCard(
        account=account,
        confirmed_at=confirmed_at,
        is_stale=confirmed_at is None or now - confirmed_at > STALE_AFTER,
        chart_points=points,
        chart_min=low,
        chart_max=high,
        history_count=len(history),
    )


def chart_polyline(history, now) -> tuple[str, Decimal | None, Decimal | None]:
    """SVG polyline points for a step chart of the balance over time (drawn server-side: no script)."""
    if not history:
        return "", None, None
    values = [snapshot.balance for snapshot in history]
    low, high = min(values), max(values)
    start = history[0].recorded_at
    span = max((now - start).total_seconds(), 1.0)
    spread = high - low or Decimal(1)

    def x(moment):
        return round((moment - start).total_seconds() / span * CHART_WIDTH, 1)

    def y(value):
        return round(CHART_HEIGHT - 4 - float((value - low) / spread) * (CHART_HEIGHT - 8), 1)

    points = []
    for index, snapshot in enumerate(history):
        if index:
            points.append(f"{x(snapshot.recorded_at)},{y(history[index - 1].balance)}")
        points.append(f"{x(snapshot.recorded_at)},{y(snapshot.balance)}")
    points.append(f"{CHART_WIDTH},{y(history[-1].balance)}")
    return " ".join(points), low, high


def visible_accounts(connection_ids=None):
    from apps.revolut.models import RevolutAccount

    accounts = RevolutAccount.objects.filter(is_deleted=False).select_related("connection")
    if connection_ids is not None:
        accounts = accounts.filter(connection_id__in=connection_ids)
    return accounts.order_by("connection__name", "currency", "name")


def push_accounts(accounts) -> None:
    """Push the cards of these accounts (instances just read, or primary keys to read)."""
    from apps.revolut.models import RevolutAccount

    accounts = list(accounts)
    if accounts and not isinstance(accounts[0], RevolutAccount):
        accounts = RevolutAccount.objects.filter(pk__in=accounts)
    cards = cards_for(accounts)
    if cards:
        live.push(LIVE_GROUP, "revolut/balances/_cards.html", {"cards": cards, "oob": True})
