"""Benchmark: inbox latency for connection A while a handler for connection A is blocked, on PostgreSQL.

    DEBUG=1 DATABASE_URL=postgres://postgres@127.0.0.1:5432/console_inbox REDIS_URL=redis://127.0.0.1:6379/11 \\
        python bench/inbox_slow_handler.py [--deliveries 200]

Migrates the database, registers a bench provider (base64 HMAC scheme) and one connection, then posts signed
deliveries through the Django test client (whole middleware stack, store + enqueue after commit):
1. unblocked: no handler running;
2. blocked: a worker thread runs process_event() on an event whose handler waits (holding its transaction,
   as a handler waiting on a lock or on a vendor API that hangs does) for the whole measurement.
Prints p50 / p99 / max per phase as a Markdown table for bench/README.md. Never run against real data.
"""

import argparse
import base64
import hashlib
import hmac
import json
import os
import statistics
import sys
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

SECRET = "bench-secret-0123456789"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--deliveries", type=int, default=200)
    args = parser.parse_args()

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection as db_connection
    from django.test import Client
    from django.test.utils import setup_test_environment

    from apps.core import providers
    from apps.core.models import Connection
    from apps.core.providers import EventDescription, Provider
    from apps.core.webhooks.processing import process_event
    from apps.core.webhooks.verifiers import Base64BodyHmac

    if db_connection.vendor != "postgresql":
        sys.exit("DATABASE_URL doit désigner une base PostgreSQL de test (les verrous de ligne sont l'objet du banc).")
    setup_test_environment()
    call_command("migrate", verbosity=0)

    started, release = threading.Event(), threading.Event()

    def blocked_handler(event):
        started.set()
        release.wait(timeout=600)

    class BenchProvider(Provider):
        key = "bench-inbox"
        label = "Banc d'essai"
        webhook_handlers = {"slow": blocked_handler, "fast": lambda event: None}

        def verifier(self, connection):
            return Base64BodyHmac("Webhook-Signature")

        def describe_event(self, body, headers, url_event):
            payload = json.loads(body)
            return EventDescription(event_type=payload["type"], event_key=payload["id"])

    providers.register(BenchProvider())
    slug = f"bench-{uuid.uuid4().hex[:8]}"
    connection = Connection.objects.create(provider="bench-inbox", name=slug, slug=slug, webhook_secrets=[SECRET])
    client = Client()

    def post(event_type):
        body = json.dumps({"id": str(uuid.uuid4()), "type": event_type}).encode()
        signature = base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest()).decode()
        began = time.perf_counter()
        response = client.post(connection.webhook_path(), data=body, content_type="application/json",
                               headers={"Webhook-Signature": signature})
        elapsed = (time.perf_counter() - began) * 1000
        assert response.status_code == 200, response.content
        return response, elapsed

    def measure():
        post("fast")  # warm-up
        return [post("fast")[1] for _ in range(args.deliveries)]

    def row(label, samples):
        samples = sorted(samples)
        p99 = samples[max(0, int(len(samples) * 0.99) - 1)]
        return f"| {label} | {len(samples)} | {statistics.median(samples):.1f} | {p99:.1f} | {samples[-1]:.1f} |"

    unblocked = measure()

    slow_event_id = post("slow")[0].json()["id"]
    worker = threading.Thread(target=lambda: (process_event(slow_event_id), db_connection.close()))
    worker.start()
    if not started.wait(timeout=30):
        sys.exit("Le gestionnaire bloqué n'a pas démarré.")
    blocked = measure()
    release.set()
    worker.join(timeout=60)

    print("| Connexion A | livraisons | p50 (ms) | p99 (ms) | max (ms) |")
    print("| --- | ---: | ---: | ---: | ---: |")
    print(row("aucun gestionnaire en cours", unblocked))
    print(row("gestionnaire de A bloqué", blocked))
    ratio = sorted(blocked)[int(len(blocked) * 0.99) - 1] / sorted(unblocked)[int(len(unblocked) * 0.99) - 1]
    print(f"\np99 bloqué / p99 libre : {ratio:.2f} (objectif : au plus 2)")
    Connection.objects.filter(pk=connection.pk).delete()


if __name__ == "__main__":
    main()
