"""`manage.py demo` for Mautic: the sandbox instance (Basic auth), its three reminder emails, a connection
mapping them to levels 1/2/3, the console's webhook registered, and an overdue invoice ready for a first
reminder. Idempotent: each piece is looked up before being made. Calls go through the real client to the
sandbox process (runconsole serves it beside the console)."""

from __future__ import annotations

import secrets
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.utils import timezone

from apps.core.http import ApiError
from apps.core.models import Connection
from apps.hub.models import Company, Invoice
from apps.mautic.sandbox import records
from apps.mautic.webhook_registration import register_webhook

CONNECTION_SLUG = "mautic-sandbox"
OVERDUE_INVOICE = "FAC-DEMO-RELANCE"


def sandbox_url() -> str:
    return f"{settings.SANDBOX_BASE_URL}/sandbox/mautic"


def demo_connection() -> Connection:
    inst = records.instance()
    emails = records.ensure_emails(inst)
    mapping = {str(level): email.pk for level, email in zip((1, 2, 3), emails)}
    connection = Connection.objects.filter(slug=CONNECTION_SLUG).first()
    if connection is None:
        connection = Connection.objects.create(
            provider="mautic", slug=CONNECTION_SLUG, name="Mautic (sandbox)", base_url=sandbox_url(),
            secrets={"username": inst.username, "password": inst.password},
            webhook_secrets=[secrets.token_urlsafe(32)],
            config={"reminder_emails": mapping, "reminder_days": {"1": 1, "2": 15, "3": 30}},
        )
    elif connection.base_url != sandbox_url():
        connection.base_url = sandbox_url()
        connection.save(update_fields=["base_url", "updated_at"])
    return connection


def overdue_invoice() -> Invoice | None:
    company = (Company.objects.filter(name="Boulangerie Martin").first()
               or Company.objects.filter(is_client=True).first())
    if company is None:
        return None
    invoice, created = Invoice.objects.get_or_create(
        number=OVERDUE_INVOICE,
        defaults={"company": company, "title": "Pains et viennoiseries pour l'inauguration",
                  "status": Invoice.Status.SENT, "issue_date": timezone.localdate() - timedelta(days=35),
                  "due_date": timezone.localdate() - timedelta(days=5)})
    if created:
        invoice.lines.create(position=0, description="Buffet d'inauguration (80 personnes)", quantity=1,
                             unit_price=Decimal("640.00"))
        invoice.recalculate_totals()
    return invoice


def seed_demo(stdout) -> None:
    connection = demo_connection()
    stdout.write(f"  connexion « {connection.name} » → {connection.base_url} (Basic)")
    invoice = overdue_invoice()
    if invoice is not None:
        stdout.write(f"  facture en retard {invoice.number} ({invoice.company}) prête pour une 1re relance")
    try:
        stdout.write("  " + register_webhook(connection))
    except ApiError as exc:
        stdout.write(f"  sandbox Mautic injoignable ({exc}) : enregistrez le webhook depuis le hub Mautic.")
