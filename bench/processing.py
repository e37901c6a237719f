"""Benchmark: webhook processing by one console worker vs the handlers alone, on PostgreSQL and Redis.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/console_bench_proc REDIS_URL=redis://127.0.0.1:6379/15 \\
        DEBUG=1 python bench/processing.py [--events 500] [--rounds 3] [--count-events 50]

The database name must hold the word `bench` between underscores (`console_bench_…`) and the Redis database must not be 0: the script migrates the
database, creates an Invoice Ninja connection (with its encrypted secrets, as a real one has) and one client,
and empties the Redis database's RQ keys. Each round stores --events fresh deliveries (half `create_quote`,
half `create_invoice`, new external ids each round, from tests/invoiceninja/fixtures) as the inbox leaves them
(`received`), then times, in alternating order:

- project: one `apps.core.worker.ConsoleWorker` — built as `manage.py rqworker webhooks --burst` builds it —
  running in this process until nothing waits (`work(burst=True)`: the dispatch of the waiting rows to the
  `webhooks` queue, 500 at a time, then claim, row lock, handler, status, live feed, RQ bookkeeping, heartbeats);
- baseline: the same kind of rows read once with their connection, then each Invoice Ninja handler called
  directly in a loop, each in its own transaction (the handler's own SQL and live pushes, nothing else).

Prints events/s per round, the process's CPU time per event (less noisy than wall time on a shared machine), the
medians and their ratio as a Markdown table for bench/README.md, then a
counting pass on --count-events deliveries: SQL statements per event (both sides), Redis commands per event and
Redis connections opened (read with MONITOR on the bench's Redis database only). Never run against real data.
"""

import argparse
import contextlib
import json
import logging
import os
import statistics
import sys
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlparse

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
FIXTURES = BASE_DIR / "tests" / "invoiceninja" / "fixtures"


def refuse_unsafe_targets():
    database = urlparse(os.environ.get("DATABASE_URL", ""))
    if database.scheme not in ("postgres", "postgresql") or "bench" not in database.path.lstrip("/").split("_"):
        sys.exit("DATABASE_URL doit désigner une base PostgreSQL dont le nom contient le mot « bench » (console_bench, ingest_bench…).")
    redis_db = urlparse(os.environ.get("REDIS_URL", "")).path.lstrip("/") or "0"
    if redis_db == "0":
        sys.exit("REDIS_URL doit désigner une base Redis de banc (pas la base 0).")


class SqlCounter:
    def __init__(self):
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)


class RedisMonitor(threading.Thread):
    """Counts the commands sent to one Redis database and the client connections that sent them."""

    STOP = "bench-monitor-stop"

    def __init__(self, url: str):
        import redis

        super().__init__(daemon=True)
        self.redis = redis.Redis.from_url(url)
        self.db = self.redis.connection_pool.connection_kwargs.get("db", 0)
        self.commands = 0
        self.clients = set()
        self.by_command = {}
        self.ready = threading.Event()

    def run(self):
        with self.redis.monitor() as monitor:
            self.ready.set()
            for entry in monitor.listen():
                if int(entry.get("db", -1)) != self.db:
                    continue
                if self.STOP in entry["command"]:
                    return
                self.commands += 1
                name = entry["command"].split(" ", 1)[0].upper()
                self.by_command[name] = self.by_command.get(name, 0) + 1
                self.clients.add((entry.get("client_address"), entry.get("client_port")))

    def stop(self):
        self.redis.echo(self.STOP)
        self.join(timeout=30)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--count-events", type=int, default=50, help="0: pas de passe de comptage")
    parser.add_argument("--without-live-feed", action="store_true",
                        help="Débrancher le flux en direct de l'accueil (une ligne rendue et poussée par événement "
                             "traité) : ce qu'il coûte au worker quand personne ne regarde l'accueil.")
    args = parser.parse_args()
    refuse_unsafe_targets()

    import django

    django.setup()
    import django_rq
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection as db
    from django.db import transaction

    from apps.core.models import Connection, WebhookEvent
    from apps.core.worker import ConsoleWorker
    from apps.invoiceninja.handlers import HANDLERS

    if args.without_live_feed:
        from apps.core import live_feed, signals

        signals.webhook_event_processed.disconnect(live_feed.push_processed, sender=WebhookEvent,
                                                   dispatch_uid="core.live_feed.processed")
    settings.DEBUG = False  # no query log: it would cost the side with more statements more
    call_command("migrate", verbosity=0)
    redis = django_rq.get_connection("webhooks")
    for key in redis.scan_iter("rq:*"):
        redis.delete(key)
    worker_log = BASE_DIR / "var" / "bench-processing-worker.log"
    handler = logging.FileHandler(worker_log, mode="w")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logging.getLogger("rq.worker").addHandler(handler)

    slug = f"bench-{uuid.uuid4().hex[:8]}"
    connection = Connection.objects.create(
        provider="invoiceninja", name=slug, slug=slug, base_url="https://in.example.test",
        secrets={"api_token": "bench-api-token-" + "x" * 48}, webhook_secrets=["bench-webhook-secret-0123456789"],
    )
    fixtures = {kind: json.loads((FIXTURES / f"{kind}.json").read_text()) for kind in ("client", "quote", "invoice")}
    client_event = WebhookEvent.objects.create(
        connection=connection, provider="invoiceninja", event_type="create_client", provider_event_id="client",
        body=json.dumps(fixtures["client"]).encode(), status=WebhookEvent.Status.QUEUED)
    with transaction.atomic():
        HANDLERS["create_client"](client_event)

    def store(tag: str, count: int, status=WebhookEvent.Status.RECEIVED) -> list[int]:
        rows = []
        for n in range(count):
            kind = ("quote", "invoice")[n % 2]
            body = dict(fixtures[kind], id=f"{tag}{kind[0]}{n:05d}", number=f"{tag}-{n:05d}")
            rows.append(WebhookEvent(
                connection=connection, provider="invoiceninja", event_type=f"create_{kind}",
                provider_event_id=f"{tag}-{n}", body=json.dumps(body).encode(), status=status,
                headers={"content-type": "application/json"}))
        return [event.pk for event in WebhookEvent.objects.bulk_create(rows)]

    def run_project(tag: str, count: int, meter=contextlib.nullcontext) -> float:
        event_ids = store(tag, count)
        worker = django_rq.get_worker("webhooks", name=f"bench-{tag}")
        assert isinstance(worker, ConsoleWorker), type(worker)
        db.close()  # as rqworker does before its loop
        with meter():
            began, cpu = time.perf_counter(), time.process_time()
            worker.work(burst=True, logging_level="INFO")
            elapsed = time.perf_counter() - began, time.process_time() - cpu
        processed = WebhookEvent.objects.filter(pk__in=event_ids, status=WebhookEvent.Status.PROCESSED).count()
        if processed != count:
            sys.exit(f"{processed}/{count} événements traités par le worker (voir {worker_log}).")
        return elapsed

    def run_baseline(tag: str, count: int, meter=contextlib.nullcontext) -> float:
        event_ids = store(tag, count, WebhookEvent.Status.QUEUED)  # never dispatched: called directly
        with meter():
            began, cpu = time.perf_counter(), time.process_time()
            for event in WebhookEvent.objects.filter(pk__in=event_ids).select_related("connection").order_by("pk"):
                with transaction.atomic():
                    HANDLERS[event.event_type](event)
            return time.perf_counter() - began, time.process_time() - cpu

    # Warm-up: the first job of a process builds Django's lazy caches (templates, SQL compilers) on both sides.
    run_baseline("warmb", 10)
    run_project("warmp", 10)

    load_before = os.getloadavg()
    project, baseline, ratios = [], [], []
    cpu = {"project": [], "baseline": []}
    for round_number in range(args.rounds):
        order = ("project", "baseline") if round_number % 2 == 0 else ("baseline", "project")
        rates = {}
        for side in order:
            tag = f"r{round_number}{side[0]}{uuid.uuid4().hex[:4]}"
            runner = run_project if side == "project" else run_baseline
            wall, cpu_seconds = runner(tag, args.events)
            rates[side] = args.events / wall
            cpu[side].append(cpu_seconds * 1000 / args.events)
            print(f"round {round_number + 1} {side}: {rates[side]:.1f} événements/s", file=sys.stderr, flush=True)
        project.append(rates["project"])
        baseline.append(rates["baseline"])
        ratios.append(rates["project"] / rates["baseline"])
    load_after = os.getloadavg()

    project_median, baseline_median = statistics.median(project), statistics.median(baseline)
    print(f"Charge (load average 1 min) : {load_before[0]:.1f} avant, {load_after[0]:.1f} après ; "
          f"{os.cpu_count()} cœurs.\n")
    print("| événements par manche | manches | worker (év./s, médiane) | gestionnaire seul (év./s, médiane) "
          "| ratio des médianes | ratio par manche (médiane, min–max) |")
    print("| ---: | ---: | ---: | ---: | ---: | --- |")
    print(f"| {args.events} | {args.rounds} | {project_median:.1f} | {baseline_median:.1f} "
          f"| {project_median / baseline_median:.2f}× | {statistics.median(ratios):.2f}× "
          f"({min(ratios):.2f}–{max(ratios):.2f}) |")
    print("\nPar manche (worker / seul) : " + ", ".join(f"{p:.1f} / {b:.1f}" for p, b in zip(project, baseline)))
    print(f"Temps CPU du processus par événement (médiane, tous fils) : worker {statistics.median(cpu['project']):.1f} ms, "
          f"gestionnaire seul {statistics.median(cpu['baseline']):.1f} ms "
          f"(ratio {statistics.median(cpu['baseline']) / statistics.median(cpu['project']):.2f}×).")

    if args.count_events:
        count_pass(args.count_events, run_project, run_baseline, db)


def count_pass(count, run_project, run_baseline, db):
    from django.conf import settings

    print(f"\nComptage sur {count} événements (passe séparée, non chronométrée ; stockage exclu, mise en file comprise) :\n")
    print("| côté | requêtes SQL / év. | commandes Redis / év. | connexions Redis ouvertes | détail Redis / év. |")
    print("| --- | ---: | ---: | ---: | --- |")
    for side, runner in (("worker", run_project), ("gestionnaire seul", run_baseline)):
        sql = SqlCounter()
        monitor = RedisMonitor(settings.REDIS_URL)

        @contextlib.contextmanager
        def meter():
            monitor.start()
            monitor.ready.wait(10)
            db.execute_wrappers.append(sql)
            try:
                yield
            finally:
                db.execute_wrappers.remove(sql)
                monitor.stop()

        runner(f"c{side[0]}{uuid.uuid4().hex[:4]}", count, meter)
        top = sorted(monitor.by_command.items(), key=lambda item: -item[1])[:10]
        print(f"| {side} | {sql.count / count:.1f} | {monitor.commands / count:.1f} | {len(monitor.clients)} "
              f"| {', '.join(f'{name} {n / count:.1f}' for name, n in top)} |")


if __name__ == "__main__":
    main()
