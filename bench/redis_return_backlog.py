"""Benchmark: from Redis's return to the last of a backlog of webhooks processed (embedded default).

    python bench/redis_return_backlog.py [--events 300] [--outage-seconds 0] [--workers 1]

On a scratch SQLite file (var/bench_recovery.sqlite3, recreated and migrated) and a private redis-server on a
free port, starts the console's worker(s) (`manage.py rqworker webhooks sync default --with-scheduler`) and
scheduler as `make run` does; creates an Invoice Ninja connection; kills Redis (SIGKILL, no persistence: like
a crash); posts --events `create_client` deliveries (distinct clients, from tests/invoiceninja/fixtures) to
the real inbox, which acknowledges each one and stores it `received`; waits --outage-seconds; starts Redis
again on the same port; then times until every event is `processed`, through the Invoice Ninja handler
(a client mirrored into the hub). Prints a Markdown row for bench/README.md. Never run against real data.
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
DATABASE = BASE_DIR / "var" / "bench_recovery.sqlite3"
SECRET = "bench-webhook-secret-0123456789"
TARGET_SECONDS = 60


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=300)
    parser.add_argument("--outage-seconds", type=float, default=0.0,
                        help="Attente entre la dernière livraison et le retour de Redis (0 : le pire cas, "
                             "les événements sont tout frais au retour).")
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()

    for leftover in DATABASE.parent.glob(DATABASE.name + "*"):
        leftover.unlink()
    from apps.core.embedded_redis import EmbeddedRedis

    redis_server = EmbeddedRedis(workdir=BASE_DIR / "var" / "bench-redis")
    redis_url = redis_server.start()
    env = dict(os.environ, DEBUG="1", SANDBOX="0", PYTHONUNBUFFERED="1", DJANGO_SETTINGS_MODULE="config.settings",
               DATABASE_URL=f"sqlite:///{DATABASE}", REDIS_URL=redis_url)
    os.environ.update(env)
    children = []
    logs = BASE_DIR / "var" / "bench-recovery-logs"
    logs.mkdir(parents=True, exist_ok=True)
    try:
        subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=BASE_DIR, env=env,
                       check=True)
        commands = {f"worker-{n}": [sys.executable, "manage.py", "rqworker", "webhooks", "sync", "default",
                                    "--with-scheduler", "--name", f"bench-worker-{n}"]
                    for n in range(1, args.workers + 1)}
        commands["scheduler"] = [sys.executable, "manage.py", "scheduler"]
        for name, command in commands.items():
            with open(logs / f"{name}.log", "w") as log:
                children.append(subprocess.Popen(command, cwd=BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT,
                                                 stdin=subprocess.DEVNULL, start_new_session=True))
        result = run(args, redis_server, children)
    finally:
        for child in children:
            if child.poll() is None:
                os.killpg(child.pid, 15)
        for child in children:
            try:
                child.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, 9)
        redis_server.stop()
    print(result)


def run(args, redis_server, children) -> str:
    import django

    django.setup()
    import redis
    from django.test import Client
    from rq import Worker

    from apps.core.models import Connection, WebhookEvent
    from apps.invoiceninja.webhooks import SECRET_HEADER

    connection = redis.Redis.from_url(redis_server.url)
    deadline = time.monotonic() + 60
    while len(Worker.all(connection=connection)) < args.workers:
        if time.monotonic() > deadline:
            raise SystemExit("Les workers ne se sont pas enregistrés en 60 s (voir var/bench-recovery-logs/).")
        time.sleep(0.2)
    connection.close()

    hook = Connection.objects.create(provider="invoiceninja", name="Bench", slug="bench",
                                     base_url="https://in.example.test", webhook_secrets=[SECRET])
    client_fixture = json.loads((BASE_DIR / "tests" / "invoiceninja" / "fixtures" / "client.json").read_text())
    http = Client(HTTP_HOST="127.0.0.1")

    redis_server.kill()
    outage_started = time.monotonic()
    for n in range(args.events):
        body = dict(client_fixture, id=f"bench{n:05d}", name=f"Client {n}", updated_at=1767225600 + n)
        response = http.post(hook.webhook_path() + "create_client/", data=json.dumps(body),
                             content_type="application/json", headers={SECRET_HEADER: SECRET})
        assert response.status_code == 200, response.content
    stored = WebhookEvent.objects.filter(connection=hook, status=WebhookEvent.Status.RECEIVED).count()
    assert stored == args.events, f"{stored} événements stockés `received` sur {args.events}"
    posting = time.monotonic() - outage_started
    time.sleep(args.outage_seconds)
    outage = time.monotonic() - outage_started

    redis_server.restart()
    returned = time.monotonic()
    processed = 0
    while processed < args.events:
        if time.monotonic() - returned > 600:
            raise SystemExit(f"{processed}/{args.events} traités après 600 s (voir var/bench-recovery-logs/).")
        time.sleep(0.2)
        processed = WebhookEvent.objects.filter(connection=hook, status=WebhookEvent.Status.PROCESSED).count()
    elapsed = time.monotonic() - returned
    alive = sum(child.poll() is None for child in children)
    verdict = "oui" if elapsed < TARGET_SECONDS else "non"
    return (f"| {args.events} | {args.workers} | {outage:.0f} (dont {posting:.0f} de livraisons) | {elapsed:.1f} "
            f"| {verdict} | {alive}/{len(children)} |")


if __name__ == "__main__":
    main()
