import io
import re
from base64 import b32decode
from importlib import import_module

import pytest
from django.contrib.auth import authenticate
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.test import RequestFactory
from django_otp.oath import totp

from apps.core import providers
from apps.core.models import Connection
from apps.core.providers import Provider
from apps.hub.models import Company, Contact, Invoice, Quote, QuoteLine, SupplierBill

pytestmark = pytest.mark.django_db

COUNTED = [Company, Contact, Quote, QuoteLine, Invoice, SupplierBill, User]


class SeededProvider(Provider):
    key = "seeded"
    label = "Système de test"

    def __init__(self):
        self.calls = 0

    def seed_demo(self, stdout):
        self.calls += 1
        stdout.write("  connexion de démonstration prête")


@pytest.fixture
def seeded_provider(monkeypatch):
    provider = SeededProvider()
    # Only this provider: the real ones seed through their sandbox over HTTP, covered by their own tests.
    monkeypatch.setattr(providers, "_registry", {provider.key: provider})
    return provider


def run_demo():
    out = io.StringIO()
    call_command("demo", stdout=out)
    return out.getvalue()


def counts():
    return {model.__name__: model.objects.count() for model in COUNTED}


def test_demo_seeds_the_hub_and_a_second_run_adds_nothing(seeded_provider):
    run_demo()
    first = counts()
    assert first["Company"] == 4
    assert first["Quote"] == 2 and first["QuoteLine"] == 4
    assert first["SupplierBill"] == 2
    run_demo()
    assert counts() == first
    assert seeded_provider.calls == 2


def test_demo_data_fits_the_workflows(seeded_provider, settings):
    run_demo()
    supplier = Company.objects.get(is_supplier=True)
    assert supplier.iban.startswith("FR76") and supplier.bic
    assert all(quote.status == Quote.Status.DRAFT and quote.total > 0 for quote in Quote.objects.all())
    amounts = sorted(SupplierBill.objects.values_list("amount", flat=True))
    assert amounts[0] < settings.PAYMENT_APPROVAL_THRESHOLD < amounts[-1]


def test_demo_users_log_in_with_the_printed_credentials_and_narrower_rights(seeded_provider):
    output = run_demo()
    assert "demo / demo-console" in output
    assert "http://127.0.0.1:8000/admin/" in output or "/admin/" in output
    request = RequestFactory().post("/admin/login/")  # django-axes counts attempts per request's address
    demo = authenticate(request, username="demo", password="demo-console")
    comptable = authenticate(request, username="comptable", password="demo-comptable")
    tresorerie = authenticate(request, username="tresorerie", password="demo-tresorerie")
    assert demo.is_staff and not demo.is_superuser
    assert demo.has_perm("core.pay_suppliers") and demo.has_perm("core.approve_payments")
    assert comptable.has_perm("core.pay_suppliers") and not comptable.has_perm("core.approve_payments")
    assert tresorerie.has_perm("core.approve_payments") and not tresorerie.has_perm("core.pay_suppliers")


def test_demo_refuses_without_sandbox(seeded_provider, settings):
    settings.SANDBOX = False
    with pytest.raises(CommandError, match="SANDBOX"):
        run_demo()
    assert Company.objects.count() == 0


def test_demo_money_movers_log_in_with_the_printed_totp_secret(seeded_provider, client):
    output = run_demo()
    secret = re.search(r"Second facteur \(TOTP\) de ([a-z, ]+) : secret ([A-Z2-7]+)", output)
    assert secret, output
    assert set(secret.group(1).split(", ")) == {"demo", "comptable", "tresorerie"}
    assert "manage.py demo_totp <utilisateur>" in output and f"oathtool --totp -b {secret.group(2)}" in output

    client.post("/admin/login/", {"username": "comptable", "password": "demo-comptable"})
    assert client.get("/admin/")["Location"].startswith("/console/second-factor/")
    printed = io.StringIO()
    call_command("demo_totp", "comptable", stdout=printed)
    code = printed.getvalue().strip()
    assert code == f"{totp(b32decode(secret.group(2))):06d}"
    client.post("/console/second-factor/", {"code": code, "next": "/admin/"})
    assert client.get("/admin/").status_code == 200

    again = io.StringIO()
    call_command("demo_totp", "comptable", stdout=again, stderr=io.StringIO())
    assert again.getvalue().strip() != code  # that one was used: the next one is printed


def test_demo_totp_refuses_without_sandbox(seeded_provider, settings):
    run_demo()
    settings.SANDBOX = False
    with pytest.raises(CommandError, match="SANDBOX"):
        call_command("demo_totp", "demo")


def _revolut_demo_connection():
    from apps.revolut.provider import DEMO_SLUG, RevolutProvider

    RevolutProvider().seed_demo(io.StringIO())
    return Connection.objects.get(slug=DEMO_SLUG)


def _first(made):
    return made[0] if isinstance(made, tuple) else made


DEMO_CONNECTIONS = {
    "invoiceninja": lambda: _first(import_module("apps.invoiceninja.demo").demo_connection()),
    "revolut": _revolut_demo_connection,
    "mautic": lambda: _first(import_module("apps.mautic.demo").demo_connection()),
    "docuseal": lambda: _first(import_module("apps.docuseal.demo").demo_connection()),
    "erpnext": lambda: _first(import_module("apps.erpnext.demo").demo_connection()),
    "directus": lambda: _first(import_module("apps.directus.demo").demo_connection()),
}


@pytest.mark.parametrize("system", DEMO_CONNECTIONS)
def test_demo_run_again_moves_a_connection_left_on_the_old_sandbox_server_to_the_console(system, settings):
    # An earlier `make run` served the sandboxes from a second server on :8001; that server is gone.
    settings.SANDBOX_BASE_URL = "http://127.0.0.1:8001"
    before = DEMO_CONNECTIONS[system]()
    assert before.base_url == f"http://127.0.0.1:8001/sandbox/{system}"

    settings.SANDBOX_BASE_URL = "http://127.0.0.1:8000"  # runconsole now: the console's own address
    again = DEMO_CONNECTIONS[system]()

    assert again.pk == before.pk
    assert Connection.objects.get(pk=before.pk).base_url == f"http://127.0.0.1:8000/sandbox/{system}"
    assert Connection.objects.filter(provider=system).count() == 1
