"""Benchmark: first full sync of N Invoice Ninja invoices against fetching the same pages + a raw bulk upsert.

    DEBUG=1 DATABASE_URL=postgres://postgres@127.0.0.1:5432/sync_bench \\
        REDIS_URL=redis://127.0.0.1:6379/12 \\
        python bench/invoiceninja_full_sync.py --series 2000,5000,10000 --repeats 2

One child process per N, on a scratch database (its name must start with `sync_bench` or `console_bench`:
the child empties the console's tables in it; without DATABASE_URL, var/bench_in_full_sync.sqlite3). An
in-memory Invoice Ninja answers the client's list requests through `responses` as the vendor does (pages
of 500 by `updated_at`, the payload shapes of tests/invoiceninja/fixtures, two lines per invoice, statuses
draft / sent / partial / paid in turn, one client per 20 invoices).

Each repeat uses two fresh connections whose clients are already synced (not timed) and runs, in
alternating order so that the machine's load and the tables' growth fall on both alike:
- the sync: a full `SyncRun` of `invoices` through the kernel engine (mirrors, hub invoices with lines and
  totals, links, timeline), from the first request to the run's success;
- the baseline: the same requests through the same client, each page's rows then upserted raw into the
  mirror table (`INSERT … ON CONFLICT DO UPDATE`, payload, hash, dates; one transaction per page).
Times are means over the repeats; the ratio is mean sync / mean baseline, each repeat's own ratio in
brackets. "Dont requêtes" is the part of either spent getting pages. Peak memory is tracemalloc's peak over
one more full sync of the invoices, run apart (tracemalloc slows Python down, so that run is not timed).
`--per-record` applies each record alone, as before page-level batching, for comparison.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import re
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DEBUG", "1")
BASE = "https://in.bench.test"
FIXTURES = BASE_DIR / "tests" / "invoiceninja" / "fixtures"
SCRATCH_PREFIXES = ("sync_bench", "console_bench")


def vendor_rows(invoices: int) -> dict[str, list[dict]]:
    client_shape = json.loads((FIXTURES / "client.json").read_text())
    invoice_shape = json.loads((FIXTURES / "invoice.json").read_text())
    line = invoice_shape["line_items"][0]
    clients = max(1, invoices // 20)
    stamp = 1_767_000_000
    rows = {"clients": [], "invoices": []}
    for n in range(clients):
        rows["clients"].append(dict(copy.deepcopy(client_shape), id=f"Cl{n:06d}", name=f"Client {n}",
                                    number=f"C{n:06d}", updated_at=stamp, contacts=[]))
    for n in range(invoices):
        lines = [dict(line, notes=f"Prestation {n}", quantity=2, cost=150.5, tax_rate1=20),
                 dict(line, notes="Déplacement", quantity=1, cost=80, tax_rate1=0)]
        rows["invoices"].append(dict(copy.deepcopy(invoice_shape), id=f"In{n:07d}", number=f"F-{n:07d}",
                                     client_id=f"Cl{n % clients:06d}", private_notes="", line_items=lines,
                                     status_id=str(1 + n % 4), updated_at=stamp + n // 50))
    return rows


def scratch_database() -> None:
    url = os.environ.get("DATABASE_URL")
    if not url:
        database = BASE_DIR / "var" / "bench_in_full_sync.sqlite3"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{database}{suffix}").unlink(missing_ok=True)
        os.environ["DATABASE_URL"] = f"sqlite:///{database}"
    elif not urlsplit(url).path.lstrip("/").startswith(SCRATCH_PREFIXES):
        sys.exit(f"DATABASE_URL must name a scratch database ({' or '.join(SCRATCH_PREFIXES)}…): it is emptied")


def measure(invoices: int, repeats: int, per_record: bool) -> dict:
    scratch_database()
    import django
    from django.conf import settings

    django.setup()
    settings.DEBUG = False  # DEBUG only got the settings past their checks; the query log would skew both sides
    import responses
    from django.core.management import call_command
    from django.db import connection as db
    from django.db import transaction
    from django.utils import timezone

    from apps.core import sync as engine
    from apps.core.models import Connection, ExternalRecord, SyncRun
    from apps.invoiceninja import reconcile
    from apps.invoiceninja.client import DEFAULT_PAGE_SIZE, InvoiceNinjaClient
    from apps.invoiceninja.models import InvoiceMirror
    from apps.invoiceninja.sync import InvoicesResource

    call_command("migrate", verbosity=0)
    if db.vendor == "postgresql":
        with db.cursor() as cursor:
            cursor.execute("TRUNCATE core_connection, core_timelineentry, hub_company RESTART IDENTITY CASCADE")
    if per_record:
        InvoicesResource.apply_page = engine.SyncResource.apply_page
    rows = vendor_rows(invoices)

    def answer(request):
        entity = urlsplit(request.url).path.rsplit("/", 1)[-1]
        query = {k: v[0] for k, v in parse_qs(urlsplit(request.url).query).items()}
        matching = rows[entity]  # already in updated_at order; the bench only runs full syncs
        per_page, page = int(query.get("per_page", 20)), int(query.get("page", 1))
        data = matching[(page - 1) * per_page: page * per_page]
        return 200, {"Content-Type": "application/json"}, json.dumps({"data": data, "meta": {"pagination": {
            "total": len(matching), "count": len(data), "per_page": per_page, "current_page": page,
            "total_pages": max(1, -(-len(matching) // per_page)), "links": {}}}})

    def forget_answers():
        """responses keeps every answer's body, in the mock and in each registered answer: the bench must not."""
        mock.calls.reset()
        for registered in mock.registered():
            registered.calls.reset()

    fetching = [0.0]
    original_fetch = InvoicesResource.fetch_page

    def timed_fetch(self, checkpoint):
        began = time.perf_counter()
        try:
            return original_fetch(self, checkpoint)
        finally:
            fetching[0] += time.perf_counter() - began
            forget_answers()

    InvoicesResource.fetch_page = timed_fetch
    serial = iter(range(1, 10**6))

    def connection_with_clients() -> Connection:
        connection = Connection.objects.create(provider="invoiceninja", name="Bench", slug=f"in-bench-{next(serial)}",
                                               base_url=BASE, secrets={"api_token": "tok-bench-0123456789"})
        run("clients", connection)
        return connection

    def run(resource: str, connection) -> SyncRun:
        sync_run = SyncRun.objects.create(connection=connection, resource=resource, kind=SyncRun.Kind.FULL)
        engine.run_sync(sync_run.pk)
        sync_run.refresh_from_db()
        assert sync_run.status == SyncRun.Status.SUCCEEDED, sync_run.error
        return sync_run

    def full_sync() -> dict:
        connection = connection_with_clients()
        forget_answers()
        if tracemalloc.is_tracing():
            tracemalloc.reset_peak()  # the peak of the invoices' sync, not of the clients' before it
        fetching[0] = 0.0
        began = time.perf_counter()
        sync_run = run("invoices", connection)
        seconds = time.perf_counter() - began
        assert (sync_run.added, sync_run.failed) == (invoices, 0), (sync_run.added, sync_run.failed)
        return {"s": seconds, "fetch_s": fetching[0], "pages": sync_run.pages}

    def baseline() -> dict:
        connection = Connection.objects.create(provider="invoiceninja", name="Raw", slug=f"in-raw-{next(serial)}",
                                               base_url=BASE, secrets={"api_token": "tok-bench-0123456789"})
        client = InvoiceNinjaClient(connection)
        fetch_seconds, page, began = 0.0, 1, time.perf_counter()
        while True:
            fetch_began = time.perf_counter()
            listing = client.changed_since("invoices", None, page=page, per_page=DEFAULT_PAGE_SIZE)
            items = [InvoicesResource.clean(item) for item in listing.items]
            forget_answers()
            fetch_seconds += time.perf_counter() - fetch_began
            now = timezone.now()
            mirrors = [InvoiceMirror(connection=connection, external_id=item["id"], payload=item,
                                     content_hash=ExternalRecord.hash_payload(item),
                                     remote_updated_at=reconcile.from_unix(item["updated_at"]),
                                     is_deleted=bool(item.get("is_deleted")), seen_at=now, synced_at=now)
                       for item in items]
            with transaction.atomic():
                InvoiceMirror.objects.bulk_create(
                    mirrors, update_conflicts=True, unique_fields=["connection", "external_id"],
                    update_fields=["payload", "content_hash", "remote_updated_at", "is_deleted", "seen_at",
                                   "synced_at"])
            if listing.is_last:
                break
            page += 1
        return {"s": time.perf_counter() - began, "fetch_s": fetch_seconds}

    pairs = []
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add_callback(responses.GET, re.compile(re.escape(BASE) + r"/api/v1/\w+"), callback=answer)
        for repeat in range(repeats):
            if repeat % 2 == 0:
                raw = baseline()
                synced = full_sync()
            else:
                synced = full_sync()
                raw = baseline()
            pairs.append((synced, raw))
            print(f"N={invoices} repeat {repeat + 1}: sync {synced['s']:.1f} s, baseline {raw['s']:.1f} s, "
                  f"ratio {synced['s'] / raw['s']:.2f}", file=sys.stderr)
        tracemalloc.start()
        full_sync()
        peak_mb = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    synced = {key: sum(s[key] for s, _r in pairs) / repeats for key in ("s", "fetch_s", "pages")}
    raw = {key: sum(r[key] for _s, r in pairs) / repeats for key in ("s", "fetch_s")}
    return {
        "invoices": invoices, "pages": int(synced["pages"]), "sync_s": round(synced["s"], 1),
        "sync_fetch_s": round(synced["fetch_s"], 1), "raw_s": round(raw["s"], 1),
        "raw_fetch_s": round(raw["fetch_s"], 1), "ratio": round(synced["s"] / raw["s"], 2),
        "ratios": [round(s["s"] / r["s"], 2) for s, r in pairs],
        "ms_per_invoice": round(synced["s"] * 1000 / invoices, 2), "peak_mb": round(peak_mb, 1),
        "database": db.vendor, "per_record": per_record,
    }


def table(results: list[dict]) -> str:
    lines = ["| factures | pages | sync complète (s) | dont requêtes (s) | ms / facture "
             "| requêtes + upsert brut (s) | dont requêtes (s) | sync / brut (répétitions) "
             "| pic mémoire tracemalloc (Mo) |",
             "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in results:
        lines.append(f"| {r['invoices']:,} | {r['pages']} | {r['sync_s']} | {r['sync_fetch_s']} | "
                     f"{r['ms_per_invoice']} | {r['raw_s']} | {r['raw_fetch_s']} | "
                     f"{r['ratio']}× ({', '.join(map(str, r['ratios']))}) | {r['peak_mb']} |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invoices", type=int)
    parser.add_argument("--series", default="2000,5000,10000")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--per-record", action="store_true")
    args = parser.parse_args()
    if args.invoices:
        print(json.dumps(measure(args.invoices, args.repeats, args.per_record)))
        return
    results = []
    for count in [int(n) for n in args.series.split(",")]:
        command = [sys.executable, __file__, "--invoices", str(count), "--repeats", str(args.repeats)]
        if args.per_record:
            command.append("--per-record")
        output = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True).stdout
        results.append(json.loads(output.strip().splitlines()[-1]))
        print(results[-1], file=sys.stderr)
    print(table(results))


if __name__ == "__main__":
    main()
