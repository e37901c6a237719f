"""Incremental sync: Unix updated_at pages, a checkpoint after each page, archived/deleted rows, conflicts."""

import copy
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from django.utils.html import escape

from apps.core import sync
from apps.core.models import SyncRun, TimelineEntry
from apps.core.sync import run_sync
from apps.hub.models import Company, Quote
from apps.invoiceninja.jobs import sync_incremental
from apps.invoiceninja.models import ClientMirror, QuoteLink, QuoteMirror
from apps.invoiceninja.sync import ClientsResource, QuotesResource
from tests.invoiceninja.conftest import API, fixture

pytestmark = pytest.mark.django_db


def page_of(items, page, total_pages):
    return {"data": items, "meta": {"pagination": {"total": 99, "count": len(items), "per_page": 2,
                                                   "current_page": page, "total_pages": total_pages, "links": {}}}}


def client(n, updated_at, **changes):
    return dict(fixture("client.json"), id=f"Client{n:04d}", name=f"Client {n}", number=f"{n:04d}",
                updated_at=updated_at, contacts=[], **changes)


def params(call):
    return {k: v[0] for k, v in parse_qs(urlsplit(call.request.url).query).items()}


def start(connection, resource):
    run, created = sync.start_sync(connection, resource)
    assert created
    return run


@pytest.fixture
def small_pages(monkeypatch):
    monkeypatch.setattr(ClientsResource, "page_size", 2)
    monkeypatch.setattr(QuotesResource, "page_size", 2)


@responses.activate
def test_incremental_sync_pages_by_updated_at_and_resumes_from_the_high_water_mark(connection, small_pages,
                                                                                   redis_connection):
    responses.get(f"{API}/clients", json=page_of([client(1, 100), client(2, 150)], 1, 2))
    responses.get(f"{API}/clients", json=page_of([client(3, 200)], 2, 2))
    run = start(connection, "clients")
    run_sync(run.pk)
    run.refresh_from_db()
    assert run.status == SyncRun.Status.SUCCEEDED
    assert (run.pages, run.added) == (2, 3)
    assert run.checkpoint == {"high_water": 200}
    first, second = (params(c) for c in responses.calls)
    assert first == {"per_page": "2", "page": "1", "sort": "updated_at|asc"}  # no status: archived rows too
    assert second["page"] == "2"
    assert Company.objects.count() == 3

    responses.replace(responses.GET, f"{API}/clients", json=page_of([client(3, 200)], 1, 1))
    run = start(connection, "clients")
    run_sync(run.pk)
    run.refresh_from_db()
    assert params(responses.calls[-1])["updated_at"] == "200"
    assert (run.added, run.updated, run.unchanged) == (0, 0, 1)


@responses.activate
def test_a_crash_on_page_two_resumes_there_without_refetching_page_one(connection, small_pages, redis_connection):
    responses.get(f"{API}/clients", json=page_of([client(1, 100), client(2, 150)], 1, 2))
    responses.get(f"{API}/clients", status=500, json={"message": "Server Error"})
    responses.get(f"{API}/clients", status=500, json={"message": "Server Error"})
    responses.get(f"{API}/clients", status=500, json={"message": "Server Error"})
    responses.get(f"{API}/clients", status=500, json={"message": "Server Error"})
    run = start(connection, "clients")
    run_sync(run.pk)
    run.refresh_from_db()
    assert run.status == SyncRun.Status.FAILED
    assert run.checkpoint["page"] == 2 and run.checkpoint["high_water"] == 150
    assert ClientMirror.objects.count() == 2

    responses.replace(responses.GET, f"{API}/clients", json=page_of([client(3, 200)], 2, 2))
    resumed = start(connection, "clients")
    run_sync(resumed.pk)
    resumed.refresh_from_db()
    assert resumed.status == SyncRun.Status.SUCCEEDED
    assert params(responses.calls[-1])["page"] == "2"
    assert Company.objects.count() == 3


@responses.activate
def test_archived_and_deleted_rows_are_mirrored_and_shown(connection, redis_connection):
    quote = dict(fixture("quote.json"))
    responses.get(f"{API}/clients", json=page_of([fixture("client.json")], 1, 1))
    responses.get(f"{API}/quotes", json=page_of([quote], 1, 1))
    for resource in ("clients", "quotes"):
        run_sync(start(connection, resource).pk)
    hub_quote = Quote.objects.get()

    archived = dict(quote, archived_at=quote["updated_at"] + 5, updated_at=quote["updated_at"] + 5)
    deleted = dict(quote, id="DeletedQ01", number="0043", is_deleted=True, archived_at=1, updated_at=archived["updated_at"])
    responses.replace(responses.GET, f"{API}/quotes", json=page_of([archived, deleted], 1, 1))
    run = start(connection, "quotes")
    run_sync(run.pk)
    run.refresh_from_db()
    assert run.deleted == 0 and run.added == 1  # the deleted one was never known: mirrored, not imported
    assert QuoteMirror.objects.get(external_id="DeletedQ01").is_deleted
    assert Quote.objects.count() == 1
    assert QuoteLink.objects.get(quote=hub_quote).remote_state == "archived"
    assert TimelineEntry.objects.filter(object_id=str(hub_quote.pk), message__contains="archivé").exists()


@responses.activate
def test_when_both_sides_changed_nothing_is_overwritten_and_the_conflict_is_shown(connection, redis_connection,
                                                                                  admin_client):
    responses.get(f"{API}/clients", json=page_of([fixture("client.json")], 1, 1))
    responses.get(f"{API}/quotes", json=page_of([fixture("quote.json")], 1, 1))
    for resource in ("clients", "quotes"):
        run_sync(start(connection, resource).pk)
    quote = Quote.objects.get()

    quote.notes = "Remise négociée au téléphone"  # edited in the console after the sync
    quote.save()
    remote = copy.deepcopy(fixture("quote.json"))
    remote.update(public_notes="Changé dans Invoice Ninja", updated_at=remote["updated_at"] + 60)
    responses.replace(responses.GET, f"{API}/quotes", json=page_of([remote], 1, 1))
    run_sync(start(connection, "quotes").pk)

    quote.refresh_from_db()
    assert quote.notes == "Remise négociée au téléphone"
    link = QuoteLink.objects.get(quote=quote)
    assert link.in_conflict
    assert TimelineEntry.objects.filter(object_id=str(quote.pk), message__startswith="Conflit").count() == 1
    page = admin_client.get(f"/admin/hub/quote/{quote.pk}/change/")
    html = page.content.decode()
    assert "Conflit" in html and escape(link.conflict_detail) in html


@responses.activate
def test_remote_changes_apply_when_the_console_did_not_change_the_record(connection, redis_connection):
    responses.get(f"{API}/clients", json=page_of([fixture("client.json")], 1, 1))
    responses.get(f"{API}/quotes", json=page_of([fixture("quote.json")], 1, 1))
    for resource in ("clients", "quotes"):
        run_sync(start(connection, resource).pk)
    remote = copy.deepcopy(fixture("quote.json"))
    remote["line_items"][0]["quantity"] = 3
    remote.update(status_id="3", updated_at=remote["updated_at"] + 60)
    responses.replace(responses.GET, f"{API}/quotes", json=page_of([remote], 1, 1))
    run_sync(start(connection, "quotes").pk)
    quote = Quote.objects.get()
    assert quote.status == Quote.Status.ACCEPTED
    assert quote.total == 1152  # 3 x 320 + 20 %
    assert not QuoteLink.objects.get(quote=quote).in_conflict


def test_the_scheduled_job_queues_every_resource_once(connection, redis_connection):
    assert sync_incremental() == 4
    assert sync_incremental() == 0  # single flight: the first runs are still queued
    assert set(SyncRun.objects.values_list("resource", flat=True)) == {"clients", "quotes", "invoices", "payments"}
