"""`manage.py connection add|test erpnext`: created before its credentials are known; the test names each
doctype ERPNext refuses to read (and who could read it) and warns when the API user can write."""

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from apps.core.models import Connection
from apps.erpnext.sandbox.state import SandboxDocument

pytestmark = pytest.mark.django_db


def test_connection_add_erpnext_with_and_without_credentials():
    out = StringIO()
    call_command("connection", "add", "erpnext", "--name", "ERPNext production", "--json", stdout=out)
    created = json.loads(out.getvalue())
    connection = Connection.objects.get(slug=created["slug"])
    assert connection.provider == "erpnext" and connection.secrets == {}
    out = StringIO()
    call_command("connection", "add", "erpnext", "--name", "ERPNext bis", "--base-url", "https://erp.example.test",
                 "--secret", "api_key=abc123abc123abc", "--secret", "api_secret=def456def456def",
                 "--webhook-secret", "whsec-0123456789abcdef", stdout=out)
    connection = Connection.objects.get(name="ERPNext bis")
    assert connection.secrets == {"api_key": "abc123abc123abc", "api_secret": "def456def456def"}
    assert "def456def456def" not in out.getvalue()
    with pytest.raises(CommandError, match="api_key, api_secret"):
        call_command("connection", "add", "erpnext", "--name", "X", "--secret", "token=1", stdout=StringIO())


def seed_one_of_each(site):
    for doctype, name in [("Customer", "CUST-1"), ("Supplier", "SUP-1"), ("Item", "ITEM-1"), ("Bin", "bin1"),
                          ("Sales Invoice", "SINV-1"), ("Purchase Invoice", "PINV-1"), ("Payment Entry", "PAY-1")]:
        SandboxDocument.objects.create(site=site, doctype=doctype, name=name, modified="2026-01-01 10:00:00.000000",
                                       data={"name": name, "modified": "2026-01-01 10:00:00.000000"})


def test_a_read_only_user_passes_without_warning(sandbox):
    seed_one_of_each(sandbox.site)
    out = StringIO()
    call_command("connection", "test", "erp", stdout=out)
    assert "api-console@hypervisual.example" in out.getvalue()
    assert "Attention" not in out.getvalue()
    assert {r.method for r in sandbox.requests()} == {"GET"}


def test_each_refused_doctype_is_named_with_the_roles_that_could_read_it(sandbox):
    seed_one_of_each(sandbox.site)
    sandbox.site.readable_doctypes = ["Customer", "Supplier", "Item", "Payment Entry", "Purchase Invoice"]
    sandbox.site.save()
    with pytest.raises(CommandError) as failure:
        call_command("connection", "test", "erp", stdout=StringIO())
    message = str(failure.value)
    assert "403" in message
    assert "Bin (rôles possibles : Purchase Manager" in message
    assert "Sales Invoice (rôles possibles : Accounts Manager, Accounts User)" in message
    assert "Customer (" not in message and "Item (" not in message
    sandbox.connection.refresh_from_db()
    assert sandbox.connection.last_error.startswith("ERPNext refuse la lecture (403)")


def test_a_user_who_can_write_is_warned(sandbox):
    seed_one_of_each(sandbox.site)
    sandbox.site.writable_doctypes = ["Sales Invoice", "Customer"]
    sandbox.site.save()
    out = StringIO()
    call_command("connection", "test", "erp", stdout=out)
    assert "peut aussi modifier Customer, Sales Invoice" in out.getvalue()
    # Asking was a GET of a read method; nothing was written.
    assert {r.method for r in sandbox.requests()} == {"GET"}


def test_a_wrong_secret_is_a_readable_401(sandbox):
    sandbox.connection.secrets = {"api_key": sandbox.site.api_key, "api_secret": "wrong-secret-000"}
    sandbox.connection.save()
    with pytest.raises(CommandError, match="AuthenticationError"):
        call_command("connection", "test", "erp", stdout=StringIO())
