"""Benchmark: full sync of N ERPNext Sales Invoices from the emulator, then an incremental sync with no change.

    DEBUG=1 python bench/erpnext_sync.py --series 10000,50000      # one child process per N, then a table
    DEBUG=1 python bench/erpnext_sync.py --invoices 50000           # one measurement (what a child runs)

Each measurement uses a scratch SQLite file (var/bench_erpnext_<N>.sqlite3, or DATABASE_URL if set; never
run it against real data): migrate, seed N submitted invoices in the emulator's table, then run the kernel's
sync engine (SyncRun + run_sync, no Redis needed) through the real client. The client's requests are
answered in-process by the emulator (responses -> Django test client), so "paging" is the whole cost of
getting a page: building the query string, the emulator's keyset query and JSON, parsing. "Writes" is the
engine's page application (bulk upsert by content hash, its savepoints, the checkpoint save). The raw
baseline bulk-upserts the same rows (same payloads, hashes, 500 per batch, one transaction per batch) into
another connection with INSERT ... ON CONFLICT DO UPDATE. Peak memory is the child's max RSS: flat in N when
the engine holds one page at a time. Prints one Markdown row per N for bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DEBUG", "1")
os.environ.setdefault("SANDBOX", "1")
BASE = "http://erp.bench.test"


def measure(invoices: int) -> dict:
    database = BASE_DIR / "var" / f"bench_erpnext_{invoices}.sqlite3"
    if "DATABASE_URL" not in os.environ:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{database}{suffix}").unlink(missing_ok=True)
        os.environ["DATABASE_URL"] = f"sqlite:///{database}"

    import django

    django.setup()
    import responses
    from django.core.management import call_command
    from django.db import connection as db
    from django.db import transaction
    from django.test.utils import CaptureQueriesContext, setup_test_environment
    from django.utils import timezone

    from apps.core import sync as engine
    from apps.core.models import Connection, ExternalRecord, SyncRun
    from apps.erpnext.models import SalesInvoiceMirror
    from apps.erpnext.sandbox import demo_data
    from apps.erpnext.sandbox.state import SandboxSite
    from apps.erpnext.sync import SalesInvoicesResource, parse_modified
    from tests.erpnext.conftest import forward

    from django.conf import settings

    setup_test_environment()
    # DEBUG only got the settings past their production checks: query logging would cost the engine (about
    # a thousand savepoint queries per page) far more than the single-statement baseline, and hold memory.
    settings.DEBUG = False
    call_command("migrate", verbosity=0)
    site = SandboxSite.objects.create(name="Bench", api_key="benchkey0000001", api_secret="benchsecret0001")
    connection = Connection.objects.create(provider="erpnext", name="Bench", slug="erp-bench",
                                           base_url=f"{BASE}/sandbox/erpnext",
                                           secrets={"api_key": site.api_key, "api_secret": site.api_secret})
    started = time.perf_counter()
    demo_data.bulk_sales_invoices(site, invoices)
    seed_seconds = time.perf_counter() - started

    timings = {"paging": 0.0, "writes": 0.0}

    def timed(name, function):
        def wrapper(*args, **kwargs):
            began = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                timings[name] += time.perf_counter() - began
        return wrapper

    requests_sent = [0]

    def answer(request):
        requests_sent[0] += 1
        return forward(request)

    def page_then_forget(function):
        def wrapper(*args, **kwargs):
            try:
                return function(*args, **kwargs)
            finally:
                mock.calls.reset()  # responses keeps every answer's body: the bench must not
        return wrapper

    SalesInvoicesResource.fetch_page = timed("paging", page_then_forget(SalesInvoicesResource.fetch_page))
    engine._apply_page = timed("writes", engine._apply_page)

    def run(kind):
        sync_run = SyncRun.objects.create(connection=connection, resource="sales_invoices", kind=kind)
        engine.run_sync(sync_run.pk)
        sync_run.refresh_from_db()
        assert sync_run.status == SyncRun.Status.SUCCEEDED, sync_run.error
        return sync_run

    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add_callback(responses.GET, re.compile(re.escape(BASE) + r"/.*"), callback=answer)
        started = time.perf_counter()
        full = run(SyncRun.Kind.FULL)
        full_seconds = time.perf_counter() - started
        full_requests = requests_sent[0]
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        with CaptureQueriesContext(db) as queries:
            run(SyncRun.Kind.INCREMENTAL)
        incremental_requests = requests_sent[0] - full_requests
    mirror_writes = [q for q in queries.captured_queries if "mirror" in q["sql"].lower()
                     and q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))]

    # Raw baseline: the same rows, bulk-upserted straight into another connection's mirrors.
    other = Connection.objects.create(provider="erpnext", name="Raw", slug="erp-raw", base_url=BASE)
    payloads = list(SalesInvoiceMirror.objects.filter(connection=connection).values_list("payload", flat=True))
    started = time.perf_counter()
    now = timezone.now()
    for offset in range(0, len(payloads), 500):
        rows = [SalesInvoiceMirror(connection=other, external_id=p["name"], payload=p,
                                   content_hash=ExternalRecord.hash_payload(p),
                                   remote_updated_at=parse_modified(p["modified"]), seen_at=now)
                for p in payloads[offset:offset + 500]]
        with transaction.atomic():
            SalesInvoiceMirror.objects.bulk_create(
                rows, update_conflicts=True, unique_fields=["connection", "external_id"],
                update_fields=["payload", "content_hash", "remote_updated_at", "seen_at", "synced_at"])
    raw_seconds = time.perf_counter() - started
    return {
        "invoices": invoices, "mirrored": full.added, "pages": full.pages, "requests": full_requests,
        "seed_s": round(seed_seconds, 1), "full_s": round(full_seconds, 1), "paging_s": round(timings["paging"], 1),
        "writes_s": round(timings["writes"], 1), "raw_upsert_s": round(raw_seconds, 1),
        "writes_vs_raw": round(timings["writes"] / raw_seconds, 2), "peak_rss_mb": round(peak_mb),
        "incremental_requests": incremental_requests, "incremental_mirror_writes": len(mirror_writes),
    }


def table(results: list[dict]) -> str:
    lines = ["| factures | pages (requêtes) | sync complète (s) | pagination (s) | écritures (s) | upsert brut (s) "
             "| écritures / brut | RSS max (Mo) | incrémentale sans changement : requêtes / écritures |",
             "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in results:
        lines.append(f"| {r['invoices']:,} | {r['pages']} ({r['requests']}) | {r['full_s']} | {r['paging_s']} | "
                     f"{r['writes_s']} | {r['raw_upsert_s']} | {r['writes_vs_raw']}× | {r['peak_rss_mb']} | "
                     f"{r['incremental_requests']} / {r['incremental_mirror_writes']} |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invoices", type=int)
    parser.add_argument("--series", default="10000,50000")
    args = parser.parse_args()
    if args.invoices:
        print(json.dumps(measure(args.invoices)))
        return
    results = []
    for count in [int(n) for n in args.series.split(",")]:
        output = subprocess.run([sys.executable, __file__, "--invoices", str(count)], check=True,
                                capture_output=True, text=True).stdout
        results.append(json.loads(output.strip().splitlines()[-1]))
        print(results[-1], file=sys.stderr)
    print(table(results))


if __name__ == "__main__":
    main()
