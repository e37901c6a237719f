"""Benchmark: an Invoice Ninja incremental sync that finds nothing new — requests and rows written.

    python bench/incremental_no_change.py --clients 200 --quotes 200 --invoices 1000

Scratch database (var/bench_incremental.sqlite3, or DATABASE_URL if set — never real data); no Redis needed.
An in-memory Invoice Ninja answers the client's list requests through `responses` the way the vendor does
(`updated_at >= since`, one-second resolution, `sort=updated_at|asc`, pages of `per_page`, archived and
deleted rows included), with the payload shapes of tests/invoiceninja/fixtures. First an incremental run of
every resource from nothing (the first import), then a second one with nothing changed at the vendor, whose
SQL is captured: the figure is its requests per resource and the rows its INSERT/UPDATE/DELETE statements
touch, by table. The baseline is a run that asks once per resource and writes nothing but its SyncRun.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import re
import sys
import time
from collections import Counter
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DEBUG", "1")
BASE = "https://in.bench.test"
FIXTURES = BASE_DIR / "tests" / "invoiceninja" / "fixtures"
WRITE = re.compile(r'\s*(INSERT INTO|UPDATE|DELETE FROM)\s+"?(\w+)"?', re.IGNORECASE)


def vendor_rows(clients: int, quotes: int, invoices: int) -> dict[str, list[dict]]:
    client_shape = json.loads((FIXTURES / "client.json").read_text())
    quote_shape = json.loads((FIXTURES / "quote.json").read_text())
    invoice_shape = json.loads((FIXTURES / "invoice.json").read_text())
    stamp = 1_767_000_000
    rows = {"clients": [], "quotes": [], "invoices": [], "payments": []}
    for n in range(clients):
        rows["clients"].append(dict(copy.deepcopy(client_shape), id=f"Cl{n:06d}", name=f"Client {n}",
                                    number=f"C{n:06d}", updated_at=stamp + n // 50, contacts=[]))
    for entity, shape, count, prefix in (("quotes", quote_shape, quotes, "Qu"), ("invoices", invoice_shape, invoices, "In")):
        for n in range(count):
            rows[entity].append(dict(copy.deepcopy(shape), id=f"{prefix}{n:06d}", number=f"{prefix}-{n:06d}",
                                     client_id=f"Cl{n % max(clients, 1):06d}", private_notes="",
                                     updated_at=stamp + n // 50))  # fifty rows share each second
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--quotes", type=int, default=200)
    parser.add_argument("--invoices", type=int, default=1000)
    options = parser.parse_args()
    database = BASE_DIR / "var" / "bench_incremental.sqlite3"
    if "DATABASE_URL" not in os.environ:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{database}{suffix}").unlink(missing_ok=True)
        os.environ["DATABASE_URL"] = f"sqlite:///{database}"

    import django
    from django.conf import settings

    django.setup()
    settings.DEBUG = False
    import responses
    from django.core.management import call_command
    from django.db import connection as db
    from django.test.utils import CaptureQueriesContext

    from apps.core import sync as engine
    from apps.core.models import Connection, SyncRun
    from apps.invoiceninja.sync import RESOURCES

    call_command("migrate", verbosity=0)
    connection = Connection.objects.create(provider="invoiceninja", name="Bench", slug=f"in-bench-{time.time_ns()}",
                                           base_url=BASE, secrets={"api_token": "tok-bench-0123456789"})
    rows = vendor_rows(options.clients, options.quotes, options.invoices)
    requests_by_entity = Counter()

    def answer(request):
        entity = urlsplit(request.url).path.rsplit("/", 1)[-1]
        query = {k: v[0] for k, v in parse_qs(urlsplit(request.url).query).items()}
        since = int(query.get("updated_at") or 0)
        matching = sorted((r for r in rows[entity] if int(r["updated_at"]) >= since), key=lambda r: r["updated_at"])
        per_page, page = int(query.get("per_page", 20)), int(query.get("page", 1))
        total_pages = max(1, -(-len(matching) // per_page))
        data = matching[(page - 1) * per_page: page * per_page]
        requests_by_entity[entity] += 1
        return 200, {"Content-Type": "application/json"}, json.dumps({"data": data, "meta": {"pagination": {
            "total": len(matching), "count": len(data), "per_page": per_page, "current_page": page,
            "total_pages": total_pages, "links": {}}}})

    def run_all():
        for resource in RESOURCES:
            run = SyncRun.objects.create(connection=connection, resource=resource.name,
                                         kind=SyncRun.Kind.INCREMENTAL)
            engine.run_sync(run.pk)
            run.refresh_from_db()
            assert run.status == SyncRun.Status.SUCCEEDED, run.error

    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add_callback(responses.GET, re.compile(re.escape(BASE) + r"/api/v1/\w+"), callback=answer)
        started = time.perf_counter()
        run_all()
        first_seconds = time.perf_counter() - started
        requests_by_entity.clear()
        from django.utils import timezone

        second_started_at = timezone.now()
        with CaptureQueriesContext(db) as queries:
            started = time.perf_counter()
            run_all()
            second_seconds = time.perf_counter() - started
    statements, rows_written = Counter(), Counter()
    for query in queries.captured_queries:
        match = WRITE.match(query["sql"])
        if match:
            statements[match.group(2)] += 1
    touched = {resource.model._meta.db_table: resource.model.objects.filter(
        connection=connection, seen_at__gte=second_started_at).count() for resource in RESOURCES}
    print(f"first import: {sum(len(v) for v in rows.values())} rows in {first_seconds:.1f} s")
    print(f"no-change incremental: {second_seconds:.2f} s, requests per resource {dict(requests_by_entity)}")
    print("write statements by table:", dict(statements) or "none")
    print("mirror rows whose seen_at was rewritten:", {k: v for k, v in touched.items() if v} or "none")


if __name__ == "__main__":
    main()
