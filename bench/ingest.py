"""Benchmark: webhook ingest against a bare Django view doing one INSERT of the same body, under uvicorn.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/console_bench_ingest REDIS_URL=redis://127.0.0.1:6379/14 \\
        python bench/ingest.py [--connections 16,64] [--rounds 3] [--duration 8] [--workers 2]

1. Creates the scratch database if needed (its name must hold the word `bench` between underscores: `console_bench_…`, `…_bench`; REDIS_URL must not be db 0),
   migrates it, creates the scratch table `bench_ingest_scratch` (id, body, received_at) for the baseline,
   and one Invoice Ninja connection with a webhook secret.
2. Starts uvicorn on 127.0.0.1 only (`bench.ingest_settings`: the console's settings, DEBUG off, plus the
   baseline route), `--workers N --lifespan off --no-access-log`; nothing else (no RQ worker: jobs wait).
3. For each round and each connection count, runs wrk against the inbox (`/hooks/invoiceninja/<uuid>/
   create_invoice/`, the secret header, a ~1 KB invoice body with a new id per request, so no delivery is a
   duplicate) and against the baseline (`/bench/baseline/`, same body and headers), alternating which goes
   first; every run is bounded by --duration. Prints the medians as a Markdown table, with non-2xx counts,
   and (from 50 deliveries through the test client beforehand) the SQL of one delivery and the Redis
   connections opened.
4. Stops uvicorn and empties what it queued (REDIS_URL's db only).
"""

import argparse
import os
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

WEBHOOK_SECRET = "bench-ingest-secret-0123456789"
EVENT = "create_invoice"

# A new invoice id per request (wrk thread id + counter); both targets get the same bytes. `thread_id` is the
# global that setup() gives each thread's own Lua state: a `local thread_id` here would shadow it, and every
# thread would then send the same ids (half of the deliveries duplicates, measured on the duplicate path).
WRK_SCRIPT = r"""
local counter = 0
local threads = {}
function setup(thread)
  thread:set("thread_id", #threads + 1)
  table.insert(threads, thread)
end
function init(args)
  path = args[1]
  secret = args[2]
  run = args[3]
end
local padding = string.rep("x", 700)
function request()
  counter = counter + 1
  local body = '{"id":"inv-' .. run .. '-' .. thread_id .. '-' .. counter .. '","number":"F-' .. counter ..
    '","client_id":"cli-1","status_id":"2","amount":120.5,"balance":120.5,"updated_at":' .. counter ..
    ',"public_notes":"' .. padding .. '"}'
  return wrk.format("POST", path, {["Content-Type"] = "application/json",
                                    ["X-Console-Webhook-Token"] = secret}, body)
end
"""


def parse_args():
    parser = argparse.ArgumentParser()
    parser.add_argument("--connections", default="16,64")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=8, help="seconds per wrk run")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn workers")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--port", type=int, default=8771)
    return parser.parse_args()


def check_targets():
    database_url, redis_url = os.environ.get("DATABASE_URL", ""), os.environ.get("REDIS_URL", "")
    db = urlparse(database_url)
    if db.scheme not in ("postgres", "postgresql") or "bench" not in db.path.lstrip("/").split("_"):
        sys.exit("DATABASE_URL doit désigner une base PostgreSQL dont le nom contient le mot « bench » (console_bench, ingest_bench…).")
    redis = urlparse(redis_url)
    if redis.hostname not in ("127.0.0.1", "localhost") or redis.path.strip("/") in ("", "0"):
        sys.exit("REDIS_URL doit désigner une base Redis locale autre que 0 (elle est vidée à la fin).")
    if shutil.which("wrk") is None:
        sys.exit("wrk est introuvable (apt-get install -y wrk).")
    return db, redis_url


def create_database(db):
    import psycopg

    name = db.path.lstrip("/")
    admin = db._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is None:
            conn.execute(f'CREATE DATABASE "{name}"')


def prepare(environment):
    """Migrate, create the scratch table, empty both tables, create the connection; returns its hook path."""
    os.environ.update(environment)
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from apps.core.models import Connection, WebhookEvent

    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE IF NOT EXISTS bench_ingest_scratch (id bigserial PRIMARY KEY, body bytea NOT NULL,"
                       " received_at timestamptz NOT NULL DEFAULT now())")
        cursor.execute("TRUNCATE bench_ingest_scratch")
    WebhookEvent.objects.all().delete()
    Connection.objects.filter(slug="bench-ingest").delete()
    hook = Connection.objects.create(provider="invoiceninja", name="Banc d'ingestion", slug="bench-ingest",
                                     base_url="https://invoicing.example", webhook_secrets=[WEBHOOK_SECRET],
                                     secrets={"api_token": "bench-token"})
    return f"{hook.webhook_path()}{EVENT}/"


def probe(hook_path, deliveries=50):
    """Through the whole stack in this process (test client, same middleware), Redis up: the SQL of the
    last delivery, and how many Redis connections `deliveries` deliveries opened."""
    import redis.connection
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    opened = []
    original_connect = redis.connection.AbstractConnection.connect

    def counting_connect(self, *args, **kwargs):
        if self._sock is None:
            opened.append(1)
        return original_connect(self, *args, **kwargs)

    redis.connection.AbstractConnection.connect = counting_connect
    client = Client()
    try:
        for n in range(deliveries):
            body = b'{"id":"inv-probe-%d","number":"F-0","updated_at":1}' % n
            with CaptureQueriesContext(connection) as captured:
                response = client.post(hook_path, body, content_type="application/json",
                                       headers={"X-Console-Webhook-Token": WEBHOOK_SECRET})
            assert response.status_code == 200, response.content
    finally:
        redis.connection.AbstractConnection.connect = original_connect
    return [query["sql"] for query in captured.captured_queries], len(opened), deliveries


def delivery_statuses():
    """How the deliveries of the runs were stored: every one should be new (`received`), none a duplicate."""
    from django.db.models import Count

    from apps.core.models import WebhookEvent

    return dict(WebhookEvent.objects.values_list("status").annotate(n=Count("id")).order_by())


def free_port(port):
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", port)) == 0:
            sys.exit(f"Le port {port} est déjà pris.")


def start_server(environment, args):
    free_port(args.port)
    command = [sys.executable, "-m", "uvicorn", "config.asgi:application", "--host", "127.0.0.1",
               "--port", str(args.port), "--workers", str(args.workers), "--lifespan", "off", "--no-access-log"]
    server = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **environment}, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{args.port}/bench/baseline/", data=b"{}", timeout=2)
            return server, command
        except OSError:
            time.sleep(0.5)
    stop_server(server)
    sys.exit("uvicorn n'a pas démarré.")


def stop_server(server):
    os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)


def wrk(script, url, path, run_tag, connections, args, duration=None):
    command = ["wrk", f"-t{args.threads}", f"-c{connections}", f"-d{duration or args.duration}s", "--latency",
               "--timeout", "10s", "-s", script, url, "--", path, WEBHOOK_SECRET, run_tag]
    output = subprocess.run(command, capture_output=True, text=True, timeout=(duration or args.duration) + 60).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    p99 = to_ms(re.search(r"^\s+99%\s+(\S+)", output, re.M).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(r"Socket errors: (.*)", output)
    requests_done = int(re.search(r"(\d+) requests in", output).group(1))
    return {"rps": rps, "p99": p99, "non2xx": int(errors.group(1)) if errors else 0,
            "socket_errors": socket_errors.group(1) if socket_errors else "", "requests": requests_done,
            "command": " ".join(command[:-4] + [url])}


def to_ms(text):
    value, unit = re.match(r"([\d.]+)(\w+)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1, "s": 1000, "m": 60000}[unit]


def main():
    args = parse_args()
    db, redis_url = check_targets()
    create_database(db)
    environment = {
        "DJANGO_SETTINGS_MODULE": "bench.ingest_settings",
        "DEBUG": "0",
        "SANDBOX": "0",
        "SECURE_SSL_REDIRECT": "0",  # plain HTTP on 127.0.0.1 (hooks are exempt anyway; the baseline is not)
        "SECRET_KEY": secrets.token_urlsafe(50),
        "FIELD_ENCRYPTION_KEYS": __import__("cryptography.fernet").fernet.Fernet.generate_key().decode(),
        "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
    }
    hook_path = prepare(environment)
    statements, redis_opened, probed = probe(hook_path)
    counts = [int(c) for c in args.connections.split(",")]
    url = f"http://127.0.0.1:{args.port}"
    load_before = os.getloadavg()
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script_file:
        script_file.write(WRK_SCRIPT)
    server, server_command = start_server(environment, args)
    results = {(c, target): [] for c in counts for target in ("project", "baseline")}
    try:
        # Warm-up: imports, template caches, the first connections of each worker.
        for target_path in (hook_path, "/bench/baseline/"):
            wrk(script_file.name, url, target_path, "warm", 8, args, duration=2)
        for round_index in range(args.rounds):
            for c in counts:
                order = ("project", "baseline") if (round_index + counts.index(c)) % 2 == 0 else ("baseline", "project")
                for target in order:
                    path = hook_path if target == "project" else "/bench/baseline/"
                    result = wrk(script_file.name, url, path, f"r{round_index}c{c}", c, args)
                    results[(c, target)].append(result)
                    print(f"round {round_index + 1} c={c} {target}: {result['rps']:.0f} req/s, p99 "
                          f"{result['p99']:.1f} ms, non-2xx {result['non2xx']} {result['socket_errors']}",
                          file=sys.stderr)
    finally:
        stop_server(server)
        os.unlink(script_file.name)
        import redis

        redis.Redis.from_url(redis_url).flushdb()  # REDIS_URL's own db (checked above: not db 0)
    load_after = os.getloadavg()
    stored = delivery_statuses()

    print(f"\nServeur : {' '.join(Path(server_command[0]).name if i == 0 else part for i, part in enumerate(server_command))}")
    print(f"Charge de la machine (1 min) : {load_before[0]:.1f} avant, {load_after[0]:.1f} après ; "
          f"{os.cpu_count()} cœurs")
    print(f"Redis : {redis_opened} connexions ouvertes pour {probed} livraisons (client de test, même processus)")
    print("Livraisons stockées par statut : " + ", ".join(f"{status} {count}" for status, count in sorted(stored.items())))
    if stored.get("duplicate"):
        print("ATTENTION : des livraisons du banc sont des doublons ; le projet a été mesuré en partie sur ce chemin.")
    print(f"SQL d'une livraison ({len(statements)}) :")
    for sql in statements:
        print(f"    {sql[:140]}")
    print(f"\nMédianes de {args.rounds} runs entrelacés de {args.duration} s (wrk -t{args.threads}) :\n")
    print("| connexions | projet (req/s) | référence (req/s) | ratio | ratio par manche (médiane, min–max) "
          "| projet p99 (ms) | référence p99 (ms) | ratio p99 | non-2xx (projet / référence) |")
    print("| ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: |")
    for c in counts:
        project, baseline = results[(c, "project")], results[(c, "baseline")]
        rps_p, rps_b = (statistics.median(r["rps"] for r in runs) for runs in (project, baseline))
        p99_p, p99_b = (statistics.median(r["p99"] for r in runs) for runs in (project, baseline))
        errors = f"{sum(r['non2xx'] for r in project)} / {sum(r['non2xx'] for r in baseline)}"
        # The two runs of a round are back to back: their ratio moves less with the machine's load.
        per_round = [p["rps"] / b["rps"] for p, b in zip(project, baseline)]
        spread = f"{statistics.median(per_round):.2f}× ({min(per_round):.2f}–{max(per_round):.2f})"
        print(f"| {c} | {rps_p:.0f} | {rps_b:.0f} | {rps_p / rps_b:.2f}× | {spread} | {p99_p:.1f} | {p99_b:.1f} | "
              f"{p99_p / p99_b:.2f}× | {errors} |")
    print("\nRuns :")
    for (c, target), runs in results.items():
        print(f"  c={c} {target}: " + ", ".join(f"{r['rps']:.0f} req/s p99 {r['p99']:.1f} ms" for r in runs))


if __name__ == "__main__":
    main()
