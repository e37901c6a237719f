"""Benchmark: a balance refresh's push to 200 open "Soldes en direct" sockets, and whether any socket dies.

    REDIS_URL=redis://127.0.0.1:6379/13 python bench/live_balances.py --sockets 200 --rounds 9 --idle 30

Scratch database (var/bench_live.sqlite3, or DATABASE_URL if set — never real data) and the Redis in
REDIS_URL (its database is flushed: give it one of its own). Three Revolut accounts with 30 history points
each; `--sockets` consumers (apps/core/consumers.py, through Channels' Redis layer, in this process) join
`revolut.balances` as a treasurer. Rounds alternate:

- project: `balances.push_accounts(accounts)` — what a refresh does after storing the balances (it holds
  the accounts it stored): read their histories (one query), render the cards once, push them to the group;
- baseline: the same fragment, rendered beforehand, pushed the same way (`live.push_html`, Channels'
  `group_send`, called from a worker's synchronous code like the refresh job): Channels alone.

Each figure is the time from the call until every socket has received the fragment; medians are reported.
Then every socket stays idle for `--idle` seconds (several of the layer's 5 s blocking pops) and the sockets
whose consumer died are counted. `--redis-defaults` runs with the channel layer configured as before issue 11
(`hosts: [REDIS_URL]`, redis-py's 5 s read timeout) to show the drops it causes.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DEBUG", "1")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sockets", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--idle", type=float, default=30)
    parser.add_argument("--redis-defaults", action="store_true")
    options = parser.parse_args()
    if "REDIS_URL" not in os.environ:
        sys.exit("REDIS_URL is required (a database of its own: it is flushed)")
    database = BASE_DIR / "var" / "bench_live.sqlite3"
    if "DATABASE_URL" not in os.environ:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{database}{suffix}").unlink(missing_ok=True)
        os.environ["DATABASE_URL"] = f"sqlite:///{database}"

    import django
    from django.conf import settings

    django.setup()
    if options.redis_defaults:
        settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer",
                                               "CONFIG": {"hosts": [settings.REDIS_URL]}}}
    settings.DEBUG = False  # no query log
    import logging

    import redis
    from asgiref.sync import sync_to_async
    from asgiref.testing import ApplicationCommunicator
    from channels.layers import get_channel_layer
    from django.contrib.auth.models import Permission, User
    from django.core.management import call_command
    from django.template.loader import render_to_string
    from django.utils import timezone

    from apps.core import live
    from apps.core.consumers import LiveFragmentConsumer
    from apps.core.models import Connection
    from apps.revolut import balances
    from apps.revolut.models import BalanceSnapshot, RevolutAccount

    logging.getLogger("django.channels.server").setLevel(logging.ERROR)
    redis.Redis.from_url(settings.REDIS_URL).flushdb()
    call_command("migrate", verbosity=0)
    connection = Connection.objects.create(provider="revolut", name="Bench", slug=f"bench-{time.time_ns()}",
                                           base_url="http://revolut.bench.test")
    ids = []
    for n, currency in enumerate(("EUR", "GBP", "USD")):
        account = RevolutAccount.objects.create(connection=connection, external_id=f"acc-{n}", name=f"Compte {n}",
                                                currency=currency, balance=Decimal("1000") + n, state="active",
                                                seen_at=timezone.now())
        BalanceSnapshot.objects.bulk_create(
            BalanceSnapshot(account=account, balance=Decimal(100 * point + n),
                            recorded_at=timezone.now() - timezone.timedelta(minutes=60 - point))
            for point in range(30))
        ids.append(account.pk)
    treasurer = User.objects.create_user(f"tresorerie-{time.time_ns()}", is_staff=True)
    treasurer.user_permissions.add(Permission.objects.get(content_type__app_label="core", codename="view_balances"))
    treasurer = User.objects.get(pk=treasurer.pk)
    pre_rendered = render_to_string("revolut/balances/_cards.html",
                                    {"cards": balances.cards_for(RevolutAccount.objects.filter(pk__in=ids)),
                                     "oob": True})

    async def scenario():
        scope = {"type": "websocket", "path": f"/ws/live/{balances.LIVE_GROUP}/", "headers": [],
                 "url_route": {"kwargs": {"group": balances.LIVE_GROUP}}, "user": treasurer, "session": None}
        sockets = [ApplicationCommunicator(LiveFragmentConsumer.as_asgi(), dict(scope))
                   for _ in range(options.sockets)]
        for socket in sockets:
            await socket.send_input({"type": "websocket.connect"})
            assert (await socket.receive_output(10))["type"] == "websocket.accept"
        layer = get_channel_layer()
        # What balances.refresh() holds when it pushes: the accounts it has just stored.
        accounts = await sync_to_async(lambda: list(RevolutAccount.objects.filter(pk__in=ids)))()

        async def everyone_received():
            await asyncio.gather(*(socket.receive_output(30) for socket in sockets))

        timings = {"project": [], "baseline": []}
        for _ in range(options.rounds):
            for kind in ("project", "baseline"):
                started = time.perf_counter()
                if kind == "project":
                    await sync_to_async(balances.push_accounts)(accounts)
                else:
                    await sync_to_async(live.push_html)(balances.LIVE_GROUP, pre_rendered)
                await everyone_received()
                timings[kind].append(time.perf_counter() - started)
        await asyncio.sleep(options.idle)
        dead = sum(1 for socket in sockets if socket.future.done())
        alive = [socket for socket in sockets if not socket.future.done()]
        await layer.group_send(balances.LIVE_GROUP, {"type": "fragment", "html": pre_rendered})
        received_after_idle = 0
        for socket in alive:
            try:
                await socket.receive_output(10)
                received_after_idle += 1
            except Exception:  # noqa: BLE001 - a socket that cannot receive is what we count
                pass
        for socket in sockets:
            if not socket.future.done():
                await socket.send_input({"type": "websocket.disconnect", "code": 1000})
        return timings, dead, received_after_idle

    timings, dead, received_after_idle = asyncio.run(scenario())
    project, baseline = (statistics.median(timings[k]) for k in ("project", "baseline"))
    print(f"{options.sockets} sockets, {options.rounds} interleaved rounds, channel layer "
          f"{'redis-py defaults' if options.redis_defaults else 'as configured'}")
    print(f"project  (push_accounts) median {project * 1000:.1f} ms  "
          f"[{', '.join(f'{t * 1000:.0f}' for t in timings['project'])}]")
    print(f"baseline (pre-rendered)  median {baseline * 1000:.1f} ms  "
          f"[{', '.join(f'{t * 1000:.0f}' for t in timings['baseline'])}]")
    print(f"ratio {project / baseline:.2f}x; after {options.idle:.0f} s idle: {dead} socket(s) dead, "
          f"{received_after_idle}/{options.sockets} received the next fragment")


if __name__ == "__main__":
    main()
