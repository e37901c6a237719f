"""What a sync writes: an incremental run that finds nothing new writes its SyncRun and nothing else."""

import re

import pytest
import responses
from django.db import connection as db
from django.test.utils import CaptureQueriesContext

from apps.core.models import SyncRun
from apps.core.sync import run_sync
from apps.hub.models import Company
from apps.invoiceninja.models import ClientMirror
from tests.invoiceninja.conftest import API
from tests.invoiceninja.test_sync import client, page_of, start

pytestmark = pytest.mark.django_db


def written_tables(queries) -> set[str]:
    """Tables an INSERT, UPDATE or DELETE statement wrote to."""
    tables = set()
    for query in queries:
        sql = query["sql"]
        match = re.match(r'\s*(?:INSERT INTO|UPDATE|DELETE FROM)\s+"?(\w+)"?', sql, re.IGNORECASE)
        if match:
            tables.add(match.group(1))
    return tables


@responses.activate
def test_an_incremental_sync_with_no_change_writes_only_its_run(connection, redis_connection):
    responses.get(f"{API}/clients", json=page_of([client(1, 100), client(2, 200)], 1, 1))
    run_sync(start(connection, "clients").pk)
    # Invoice Ninja lists the high-water second again (one-second resolution): same rows, same content.
    responses.replace(responses.GET, f"{API}/clients", json=page_of([client(2, 200)], 1, 1))
    seen_before = ClientMirror.objects.get(external_id="Client0002").seen_at
    run = start(connection, "clients")
    with CaptureQueriesContext(db) as queries:
        run_sync(run.pk)
    run.refresh_from_db()
    assert (run.status, run.pages, run.unchanged) == (SyncRun.Status.SUCCEEDED, 1, 1)
    assert len(responses.calls) == 2  # one request for this run
    assert written_tables(queries.captured_queries) <= {"core_syncrun", "core_apicall"}
    assert ClientMirror.objects.get(external_id="Client0002").seen_at == seen_before


@responses.activate
def test_a_change_in_the_high_water_second_is_still_applied(connection, redis_connection):
    responses.get(f"{API}/clients", json=page_of([client(1, 100), client(2, 200)], 1, 1))
    run_sync(start(connection, "clients").pk)
    responses.replace(responses.GET, f"{API}/clients",
                      json=page_of([{**client(2, 200), "name": "Client 2 renamed"}], 1, 1))
    run = start(connection, "clients")
    run_sync(run.pk)
    run.refresh_from_db()
    assert run.updated == 1
    assert Company.objects.filter(name="Client 2 renamed").exists()


@responses.activate
def test_an_invoice_converted_in_invoice_ninja_joins_its_quote_through_the_quote_mirror(connection, redis_connection):
    from apps.hub.models import Invoice
    from apps.invoiceninja.models import QuoteMirror
    from tests.invoiceninja.conftest import fixture

    quote = dict(fixture("quote.json"), id="Qu000001", number="D-0001", client_id="Client0001", private_notes="",
                 status_id="4", invoice_id="In000001", updated_at=100)
    invoice = dict(fixture("invoice.json"), id="In000001", number="F-0001", client_id="Client0001",
                   private_notes="", updated_at=110)
    responses.get(f"{API}/clients", json=page_of([client(1, 100)], 1, 1))
    responses.get(f"{API}/quotes", json=page_of([quote], 1, 1))
    responses.get(f"{API}/invoices", json=page_of([invoice], 1, 1))
    for resource in ("clients", "quotes", "invoices"):
        run_sync(start(connection, resource).pk)
    assert QuoteMirror.objects.get(external_id="Qu000001").invoice_id == "In000001"
    hub_invoice = Invoice.objects.get(number="F-0001")
    assert hub_invoice.quote is not None and hub_invoice.quote.number == "D-0001"


@responses.activate
def test_a_first_import_inserts_each_document_once_with_its_lines_and_totals(connection, redis_connection):
    from decimal import Decimal

    from apps.hub.models import Invoice
    from tests.invoiceninja.conftest import fixture

    lines = [{"notes": "Conseil", "quantity": 2, "cost": 500, "tax_rate1": 20},
             {"notes": "Déplacement", "quantity": 1, "cost": 120.5, "tax_rate1": 0}]
    invoices = [dict(fixture("invoice.json"), id=f"In{n:06d}", number=f"F-{n:04d}", client_id="Client0001",
                     private_notes="", line_items=lines, updated_at=100 + n) for n in range(5)]
    responses.get(f"{API}/clients", json=page_of([client(1, 100)], 1, 1))
    responses.get(f"{API}/invoices", json=page_of(invoices, 1, 1))
    run_sync(start(connection, "clients").pk)
    run = start(connection, "invoices")
    with CaptureQueriesContext(db) as queries:
        run_sync(run.pk)
    statements = [q["sql"] for q in queries.captured_queries]
    written = [re.match(r'\s*(INSERT INTO|UPDATE|DELETE FROM)\s+"?(\w+)"?', sql, re.IGNORECASE) for sql in statements]
    written = [(m.group(1).upper(), m.group(2)) for m in written if m]
    assert ("INSERT INTO", "hub_invoice") in written
    assert ("UPDATE", "hub_invoice") not in written  # no insert-then-update
    assert not any(table == "hub_invoiceline" and verb != "INSERT INTO" for verb, table in written)
    assert written.count(("INSERT INTO", "hub_invoiceline")) == 1  # one statement for the page's lines
    assert not any('FROM "hub_invoiceline"' in sql and sql.lstrip().upper().startswith("SELECT") for sql in statements)
    invoice = Invoice.objects.get(number="F-0003")
    assert [(line.description, line.quantity) for line in invoice.lines.all()] == [
        ("Conseil", Decimal("2.000")), ("Déplacement", Decimal("1.000"))]
    assert (invoice.subtotal, invoice.tax_total, invoice.total) == (
        Decimal("1120.50"), Decimal("200.00"), Decimal("1320.50"))
