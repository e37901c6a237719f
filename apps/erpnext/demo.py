"""`manage.py demo` for ERPNext: a sandbox site with a year of documents, a read-only connection to it whose
webhooks come back to the console, then one sync of every doctype through the real client.

Idempotent: the site, its documents (keyed by name) and the connection are looked up before being made.
The sandbox answers at SANDBOX_BASE_URL (runconsole: the console's own server); if it is not up yet,
the sync is left to the scheduler and a hint is printed.
"""

from __future__ import annotations

import secrets

from django.conf import settings

from apps.core import sync
from apps.core.models import Connection, SyncRun
from apps.erpnext.sandbox import demo_data
from apps.erpnext.sandbox.state import SandboxSite
from apps.erpnext.sync import RESOURCES

CONNECTION_SLUG = "erpnext-sandbox"
CONNECTION_NAME = "ERPNext (sandbox)"
SITE_NAME = "Hypervisual SA (démo ERPNext)"


def sandbox_url() -> str:
    return f"{settings.SANDBOX_BASE_URL}/sandbox/erpnext"


def demo_connection() -> tuple[Connection, SandboxSite]:
    site = SandboxSite.objects.filter(name=SITE_NAME).first()
    if site is None:
        site = SandboxSite.objects.create(name=SITE_NAME, api_key=secrets.token_hex(8)[:15],
                                          api_secret=secrets.token_hex(8)[:15])
    connection = Connection.objects.filter(provider="erpnext", slug=CONNECTION_SLUG).first()
    if connection is None:
        connection = Connection.objects.create(
            provider="erpnext", slug=CONNECTION_SLUG, name=CONNECTION_NAME, base_url=sandbox_url(),
            secrets={"api_key": site.api_key, "api_secret": site.api_secret},
            webhook_secrets=[secrets.token_urlsafe(32)],
        )
    elif connection.base_url != sandbox_url():  # the sandboxes now answer elsewhere (e.g. an older run on :8001)
        connection.base_url = sandbox_url()
        connection.save(update_fields=["base_url", "updated_at"])
    site.webhook_url = connection.webhook_url()
    site.webhook_secret = connection.webhook_secrets[0] if connection.webhook_secrets else ""
    site.save(update_fields=["webhook_url", "webhook_secret"])
    return connection, site


def seed_demo(stdout) -> None:
    connection, site = demo_connection()
    counts = demo_data.populate(site)
    stdout.write(f"  site sandbox « {site.name} » : " + ", ".join(f"{n} {d}" for d, n in sorted(counts.items())))
    stdout.write(f"  connexion « {connection.name} » → {connection.base_url}")
    for resource in RESOURCES:
        run, created = sync.start_sync(connection, resource.name)
        if created:
            sync.run_sync(run.pk)
            run.refresh_from_db()
        if run.status == SyncRun.Status.FAILED:
            stdout.write(f"  sandbox ERPNext injoignable ({run.error.splitlines()[0][:120]}) : lancez la sandbox "
                         f"puis `manage.py connection sync {CONNECTION_SLUG}`.")
            return
    stdout.write("  clients, factures, paiements, articles et stocks synchronisés")
