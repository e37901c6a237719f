"""Mirrors of the seven doctypes from the emulator: keyset paging on (modified, name), checkpoints per page,
an incremental run with nothing new asks once per doctype and writes no mirror row, changes show up after the
next incremental run, and the nightly full pass catches what `modified` does not show (overdue, deletions)."""

import json
from datetime import timedelta
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connection as db
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.core.models import SyncRun
from apps.erpnext import jobs
from apps.erpnext.models import BinMirror, CustomerMirror, ItemMirror, SalesInvoiceMirror
from apps.erpnext.sandbox import demo_data, state
from apps.erpnext.sync import RESOURCES, SalesInvoicesResource

from .conftest import run_sync, sync_everything

pytestmark = pytest.mark.django_db


def mirror_writes(queries) -> list[str]:
    return [q["sql"] for q in queries
            if q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE")) and "mirror" in q["sql"].lower()]


def invoice(site, name, *, outstanding=100.0, due=None, status="Unpaid", modified=None):
    return state.save_document(site, "Sales Invoice", name, {
        "customer": "CUST-1", "customer_name": "Client", "currency": "EUR", "party_account_currency": "EUR",
        "grand_total": 100.0, "outstanding_amount": outstanding, "status": status, "docstatus": 1,
        "posting_date": "2026-01-01", "due_date": due or (timezone.localdate() + timedelta(days=10)).isoformat(),
    }, modified=modified)


def test_full_first_sync_mirrors_every_doctype_with_the_fields_asked(sandbox):
    demo_data.populate(sandbox.site)
    runs = sync_everything(sandbox.connection)
    assert CustomerMirror.objects.count() == 18
    assert SalesInvoiceMirror.objects.count() == runs["sales_invoices"].added > 300
    assert BinMirror.objects.count() == ItemMirror.objects.filter(payload__is_stock_item=1).count() * 2
    sample = SalesInvoiceMirror.objects.exclude(payload__status="Draft").first().payload
    assert set(sample) == {"name", "modified", "docstatus", *SalesInvoicesResource.fields}
    for request in sandbox.requests():
        params = parse_qs(urlsplit(request.url).query)
        assert params["order_by"] == ["modified asc, name asc"]
        assert params["limit_page_length"] == ["500"]


def test_pages_follow_the_last_key_and_checkpoint_after_each_page(sandbox, monkeypatch):
    monkeypatch.setattr(SalesInvoicesResource, "page_size", 4)
    same_moment = "2026-01-05 10:00:00.000000"
    for number in range(1, 11):  # ten invoices saved in the same microsecond: only `name` orders them
        invoice(sandbox.site, f"SINV-{number:02d}", modified=same_moment)
    run = run_sync(sandbox.connection, "sales_invoices")
    assert (run.pages, run.added) == (3, 10)
    assert run.checkpoint == {"high_water": [same_moment, "SINV-10"]}
    lists = [parse_qs(urlsplit(r.url).query) for r in sandbox.requests()]
    assert "filters" not in lists[0]
    assert json.loads(lists[1]["filters"][0]) == [["modified", ">=", same_moment]]
    assert json.loads(lists[1]["or_filters"][0]) == [["modified", ">", same_moment], ["name", ">", "SINV-04"]]
    assert all(params["limit_start"] == ["0"] for params in lists)


def test_incremental_with_no_change_is_one_request_per_doctype_and_no_mirror_write(sandbox):
    demo_data.populate(sandbox.site)
    sync_everything(sandbox.connection)
    before = len(sandbox.requests())
    seen = dict(SalesInvoiceMirror.objects.values_list("external_id", "seen_at"))
    with CaptureQueriesContext(db) as queries:
        runs = sync_everything(sandbox.connection)
    assert len(sandbox.requests()) - before == len(RESOURCES)
    assert mirror_writes(queries.captured_queries) == []
    assert all((run.added, run.updated, run.unchanged) == (0, 0, 0) for run in runs.values())
    assert dict(SalesInvoiceMirror.objects.values_list("external_id", "seen_at")) == seen


def test_a_change_in_erpnext_shows_up_after_the_next_incremental_sync(sandbox):
    invoice(sandbox.site, "SINV-1")
    invoice(sandbox.site, "SINV-2")
    run_sync(sandbox.connection, "sales_invoices")
    state.record_payment(sandbox.site, "SINV-1", Decimal("40"))
    run = run_sync(sandbox.connection, "sales_invoices")
    assert (run.added, run.updated) == (0, 1)
    mirror = SalesInvoiceMirror.objects.get(external_id="SINV-1")
    assert (mirror.payload["outstanding_amount"], mirror.payload["status"]) == (60.0, "Partly Paid")


def test_the_overdue_job_is_missed_by_incremental_and_caught_by_the_full_pass(sandbox):
    invoice(sandbox.site, "SINV-LATE", due=(timezone.localdate() - timedelta(days=3)).isoformat(), status="Unpaid")
    run_sync(sandbox.connection, "sales_invoices")
    assert state.run_daily_overdue(sandbox.site) == 1
    run_sync(sandbox.connection, "sales_invoices")
    assert SalesInvoiceMirror.objects.get(external_id="SINV-LATE").payload["status"] == "Unpaid"
    full = run_sync(sandbox.connection, "sales_invoices", SyncRun.Kind.FULL)
    assert full.updated == 1
    assert SalesInvoiceMirror.objects.get(external_id="SINV-LATE").payload["status"] == "Overdue"


def test_deletions_are_found_by_the_full_pass_and_cancellations_kept_with_their_amendment(sandbox):
    invoice(sandbox.site, "SINV-A")
    invoice(sandbox.site, "SINV-B")
    run_sync(sandbox.connection, "sales_invoices")
    state.delete(sandbox.site, "Sales Invoice", "SINV-A")
    state.amend(sandbox.site, "Sales Invoice", "SINV-B", {"grand_total": 90.0, "outstanding_amount": 90.0})
    run_sync(sandbox.connection, "sales_invoices")
    assert not SalesInvoiceMirror.objects.get(external_id="SINV-A").is_deleted  # nothing to list: still there
    original = SalesInvoiceMirror.objects.get(external_id="SINV-B")
    amended = SalesInvoiceMirror.objects.get(external_id="SINV-B-1")
    assert (original.payload["docstatus"], original.payload["status"]) == (2, "Cancelled")
    assert amended.payload["amended_from"] == "SINV-B" and not original.is_deleted
    full = run_sync(sandbox.connection, "sales_invoices", SyncRun.Kind.FULL)
    assert full.deleted == 1
    assert SalesInvoiceMirror.objects.get(external_id="SINV-A").is_deleted


def test_scheduled_jobs_queue_incremental_and_nightly_full_runs(sandbox):
    from apps.core.scheduler import _registry

    assert _registry["erpnext-sync"].seconds == 300
    assert _registry["erpnext-full-sync"].seconds == 86400
    assert jobs.sync_full() == len(RESOURCES)
    assert set(SyncRun.objects.values_list("kind", flat=True)) == {SyncRun.Kind.FULL}
