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
