"""`manage.py directus bootstrap` and `resync` against the sandbox, and the demo seeding the mirror."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from apps.core.models import Connection
from apps.directus import demo, schema
from apps.directus.sandbox.state import SandboxDirectusCollection, SandboxDirectusItem, SandboxDirectusProject
from apps.hub.models import Company, Quote
from tests.directus.conftest import settle

pytestmark = pytest.mark.django_db(transaction=True)


def test_bootstrap_creates_string_keyed_collections_once(directus):
    names = {c.name for c in SandboxDirectusCollection.objects.all()}
    assert names == {directus.name(key) for key in schema.COLLECTIONS}
    quotes = SandboxDirectusCollection.objects.get(name=directus.name("quotes"))
    key = quotes.field("id")
    assert key["type"] == "string" and key["schema"]["is_primary_key"] and not key["schema"]["has_auto_increment"]
    assert quotes.field("date_updated")["meta"]["special"] == ["date-updated"]
    assert quotes.field("total")["type"] == "decimal"

    out = StringIO()
    # "=": a token may start with "-" (token_urlsafe), which argparse would read as an option.
    call_command("directus", "bootstrap", directus.connection.slug, f"--admin-token={directus.admin.token}", stdout=out)
    assert "Schéma déjà en place : rien à créer." in out.getvalue()
    with pytest.raises(CommandError, match="Directus"):
        # the mirror's own token may not create collections: a readable refusal, no traceback
        SandboxDirectusCollection.objects.filter(name=directus.name("payments")).delete()
        call_command("directus", "bootstrap", directus.connection.slug, stdout=StringIO())


def test_connection_test_against_the_sandbox_lists_read_write_collections(directus):
    out = StringIO()
    call_command("connection", "test", directus.connection.slug, stdout=out)
    assert "console@example.test" in out.getvalue()
    assert "lecture et écriture : console_companies, console_contacts, console_quotes" in out.getvalue()


def test_resync_repairs_drift_and_says_what_it_changed(directus):
    company = Company.objects.create(name="Cabinet Dupont", city="Paris")
    quote = Quote.objects.create(company=company, title="Plans")
    settle()
    # Drift the outbox never saw: a queryset update (no signal) and an item lost in Directus.
    Company.objects.filter(pk=company.pk).update(city="Versailles")
    SandboxDirectusItem.objects.filter(key=f"quote-{quote.pk}", collection__name=directus.name("quotes")).delete()
    stray = SandboxDirectusItem.objects.create(collection=SandboxDirectusCollection.objects.get(
        name=directus.name("companies")), key="company-999999", data={"name": "Disparue"})

    out = StringIO()
    call_command("directus", "resync", directus.connection.slug, stdout=out)
    text = out.getvalue()
    assert f"console_quotes/quote-{quote.pk}" in text
    assert f"corrigés (différents du hub) : 1 — console_companies/company-{company.pk}" in text
    assert "supprimés (plus dans le hub) : 1 — console_companies/company-999999" in text
    assert directus.item("companies", f"company-{company.pk}")["city"] == "Versailles"
    assert directus.item("quotes", f"quote-{quote.pk}")["title"] == "Plans"
    assert not SandboxDirectusItem.objects.filter(pk=stray.pk).exists()

    settle()
    again = StringIO()
    call_command("directus", "resync", directus.connection.slug, stdout=again)
    assert "Aucun écart." in again.getvalue()


def test_demo_creates_the_connection_bootstraps_and_fills_the_mirror(live_server, settings, redis_connection,
                                                                    flow_inline):
    settings.SANDBOX = True
    settings.SANDBOX_BASE_URL = live_server.url
    settings.PUBLIC_BASE_URL = live_server.url
    company = Company.objects.create(name="Atelier Lumière SARL")
    Quote.objects.create(company=company, title="Site", status=Quote.Status.SENT)
    out = StringIO()
    demo.seed_demo(out)
    demo.seed_demo(out)  # idempotent
    connection = Connection.objects.get(provider="directus")
    assert connection.base_url == f"{live_server.url}/sandbox/directus"
    project = SandboxDirectusProject.objects.get()
    assert project.flow_url == connection.webhook_url() and project.import_ip_deny_list == "169.254.169.254"
    status = SandboxDirectusItem.objects.get(collection__name="console_integration_status")
    assert status.data["stage"] == "envoyé"
    assert SandboxDirectusItem.objects.filter(collection__name="console_companies").count() == 1
    assert "injoignable" not in out.getvalue()
