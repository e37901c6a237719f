"""Benchmark: the webhook log admin list with 1,000,000 rows in PostgreSQL.

    DEBUG=1 DATABASE_URL=postgres://postgres@127.0.0.1:5432/console_bench \\
        python bench/webhook_admin_list.py [--rows 1000000] [--max-seed-seconds 600] [--drop]

Creates the database if needed, migrates, seeds rows with INSERT ... SELECT generate_series in chunks
(stopping at the seed time limit), ANALYZEs, then times the changelist through the Django test client:
unfiltered, filtered by status (rare and common), by connection, and searched by event id. Prints a
Markdown table for bench/README.md. --drop removes the database afterwards. Never run against real data.
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

CHUNK = 100_000

SEED_SQL = """
INSERT INTO core_webhookevent (connection_id, provider, event_type, provider_event_id, status, body, headers,
                               remote_addr, received_at, attempts, last_error, traceback, processed_at)
SELECT
    (%(connections)s::bigint[])[1 + (i %% array_length(%(connections)s::bigint[], 1))],
    'bench',
    (ARRAY['invoice.created', 'invoice.updated', 'payment.created', 'quote.approved'])[1 + (i %% 4)],
    CASE WHEN i %% 100 IN (97, 98) THEN '' ELSE 'evt-' || i END,
    CASE
        WHEN i %% 100 < 90 THEN 'processed'
        WHEN i %% 100 < 95 THEN 'ignored'
        WHEN i %% 100 < 97 THEN 'failed'
        WHEN i %% 100 < 99 THEN 'rejected'
        ELSE 'duplicate'
    END,
    convert_to('{"id": "evt-' || i || '", "data": {"amount": "' || (i %% 5000) || '.00"}}', 'UTF8'),
    '{"Content-Type": "application/json", "X-Signature": "••••"}'::jsonb,
    '203.0.113.7',
    now() - ((%(total)s - i) * interval '2 seconds'),
    1, '', '', now()
FROM generate_series(%(start)s, %(stop)s) AS i
"""


def ensure_database(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1].split("?")[0]
    if not name.startswith("console_bench"):
        raise SystemExit("Refus : la base de benchmark doit s'appeler console_bench*.")
    admin_url = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def drop_database(url: str) -> None:
    import psycopg
    from django.db import connections

    connections.close_all()
    name = url.rsplit("/", 1)[1].split("?")[0]
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def seed(rows: int, max_seconds: float) -> int:
    from django.db import connection

    from apps.core.models import Connection, WebhookEvent

    connection_ids = [
        Connection.objects.get_or_create(slug=f"bench-{n}", defaults={"provider": "bench", "name": f"Bench {n}"})[0].pk
        for n in range(3)
    ]
    existing = WebhookEvent.objects.count()
    deadline = time.monotonic() + max_seconds
    start = existing + 1
    with connection.cursor() as cursor:
        while start <= rows and time.monotonic() < deadline:
            stop = min(start + CHUNK - 1, rows)
            cursor.execute(SEED_SQL, {"connections": connection_ids, "total": rows, "start": start, "stop": stop})
            print(f"  {stop:>9} lignes", flush=True)
            start = stop + 1
        # As autovacuum would have: statistics, and a visibility map so counts can use index-only scans.
        cursor.execute("VACUUM ANALYZE core_webhookevent")
    return WebhookEvent.objects.count()


def time_page(client, params, repeats: int):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    response = client.get("/admin/core/webhookevent/", params)  # warm-up
    assert response.status_code == 200, response.status_code
    timings = []
    for _ in range(repeats):
        with CaptureQueriesContext(connection) as queries:
            started = time.perf_counter()
            response = client.get("/admin/core/webhookevent/", params)
            timings.append((time.perf_counter() - started) * 1000)
    slowest = max(float(q["time"]) for q in queries.captured_queries) * 1000
    shown = len(response.context["cl"].result_list)
    return statistics.median(timings), max(timings), len(queries.captured_queries), slowest, shown


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--max-seed-seconds", type=float, default=600)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--drop", action="store_true")
    args = parser.parse_args()

    url = os.environ.get("DATABASE_URL", "")
    ensure_database(url)

    import django

    django.setup()
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.test import Client
    from django.test.utils import setup_test_environment

    setup_test_environment()
    call_command("migrate", "core", verbosity=0)
    call_command("migrate", "auth", verbosity=0)
    call_command("migrate", "sessions", verbosity=0)
    call_command("migrate", "admin", verbosity=0)

    started = time.monotonic()
    total = seed(args.rows, args.max_seed_seconds)
    print(f"{total} lignes en base (amorçage : {time.monotonic() - started:.0f} s)")

    user = User.objects.filter(username="bench").first() or User.objects.create_superuser("bench", password="x")
    client = Client()
    client.force_login(user)
    from apps.core.models import Connection

    bench_connection = Connection.objects.get(slug="bench-1")
    cases = [
        ("Sans filtre, page 1", {}),
        ("Sans filtre, page 50", {"p": "50"}),
        ("Statut = échec (2 %)", {"status__exact": "failed"}),
        ("Statut = traité (90 %)", {"status__exact": "processed"}),
        ("Connexion = bench-1 (1/3)", {"connection__id__exact": str(bench_connection.pk)}),
        ("Recherche identifiant exact", {"q": f"evt-{total // 2}"}),
    ]
    print(f"\n| Page ({total:,} lignes) | médiane (ms) | max (ms) | requêtes | plus lente (ms) | lignes affichées |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for label, params in cases:
        median, worst, count, slowest, shown = time_page(client, params, args.repeats)
        print(f"| {label} | {median:.0f} | {worst:.0f} | {count} | {slowest:.1f} | {shown} |")

    if args.drop:
        drop_database(url)
        print("\nBase de benchmark supprimée.")


if __name__ == "__main__":
    main()
