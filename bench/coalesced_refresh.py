"""Benchmark: how many balance refreshes (Revolut calls) a burst of TransactionCreated webhooks asks for.

    REDIS_URL=redis://127.0.0.1:6379/13 python bench/coalesced_refresh.py --events 583 --rounds 3

Scratch database (var/bench_coalesce.sqlite3, or DATABASE_URL if set — never real data) and the Redis in
REDIS_URL (its database is flushed: give it one of its own). Each round stores `--events` signed-shape
TransactionCreated events for one connection and runs the real handler on each (process_event, commits
included, as a worker does, back to back), then counts the refresh jobs it left: queued now plus scheduled
for the end of a window. Rounds alternate the project (apps/core/coalesce.py) and the baseline (one
refresh enqueued per event, as before issue 11); medians are reported. Every refresh is one Revolut
`GET /accounts` against a budget of 60 requests a minute.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DEBUG", "1")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=583)
    parser.add_argument("--rounds", type=int, default=3)
    options = parser.parse_args()
    if "REDIS_URL" not in os.environ:
        sys.exit("REDIS_URL is required (a database of its own: it is flushed)")
    database = BASE_DIR / "var" / "bench_coalesce.sqlite3"
    if "DATABASE_URL" not in os.environ:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{database}{suffix}").unlink(missing_ok=True)
        os.environ["DATABASE_URL"] = f"sqlite:///{database}"

    import django
    from django.conf import settings

    django.setup()
    settings.DEBUG = False
    import django_rq
    from django.core.management import call_command
    from rq.registry import ScheduledJobRegistry

    from apps.core import jobs
    from apps.core.models import WebhookEvent
    from apps.core.webhooks.processing import process_event
    from apps.revolut import handlers, webhooks
    from apps.revolut.jobs import refresh_connection_balances
    from tests.revolut.conftest import make_connection

    call_command("migrate", verbosity=0)
    connection = make_connection("https://sandbox-b2b.revolut.com/api/1.0")
    coalesced = handlers._refresh_balances_after_commit

    def per_event(event):  # the handler's refresh before issue 11
        jobs.enqueue_on_commit(refresh_connection_balances, event.connection_id, queue="default")

    queue = django_rq.get_queue("default")
    results = {"project": [], "baseline": []}
    serial = 0
    for _ in range(options.rounds):
        for kind in ("project", "baseline"):
            queue.connection.flushdb()
            handlers._refresh_balances_after_commit = coalesced if kind == "project" else per_event
            started = time.perf_counter()
            for _n in range(options.events):
                serial += 1
                body = json.dumps({"event": "TransactionCreated", "timestamp": "2026-03-31T18:00:00.000000Z",
                                   "data": {"id": f"tx-{serial}", "type": "transfer", "state": "completed",
                                            "created_at": "2026-03-31T18:00:00Z",
                                            "updated_at": "2026-03-31T18:00:00Z", "legs": []}}).encode()
                description = webhooks.describe_event(body, {}, None)
                event = WebhookEvent.objects.create(connection=connection, provider="revolut",
                                                    event_type=description.event_type,
                                                    provider_event_id=description.event_key, body=body,
                                                    status="received")
                assert process_event(event.pk) == WebhookEvent.Status.PROCESSED
            seconds = time.perf_counter() - started
            refreshes = sum(1 for job in queue.jobs if job.func_name.endswith("refresh_connection_balances"))
            scheduled = ScheduledJobRegistry(queue=queue).count
            results[kind].append((refreshes + scheduled, refreshes, scheduled, seconds))
    handlers._refresh_balances_after_commit = coalesced
    for kind in ("project", "baseline"):
        total = statistics.median(r[0] for r in results[kind])
        print(f"{kind:8}: refreshes per {options.events} events, median {total:g} "
              f"(now + scheduled per round: {', '.join(f'{r[1]}+{r[2]} in {r[3]:.0f} s' for r in results[kind])})")
    project = statistics.median(r[0] for r in results["project"])
    baseline = statistics.median(r[0] for r in results["baseline"])
    print(f"ratio {project / baseline:.3f}x")


if __name__ == "__main__":
    main()
