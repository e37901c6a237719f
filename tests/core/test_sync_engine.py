"""The sync engine against a resource served from memory: counts, content hashes, checkpoints, single flight."""

from datetime import timedelta

import django_rq
import pytest
from rq import SimpleWorker

from apps.core import sync
from apps.core.models import SyncRun
from tests.core.sync_doubles import PagedMirror, PagedThings, WorkerKilled, items
from tests.core.sync_doubles import paged_connection, paged_mirror_table, paged_provider  # noqa: F401

pytestmark = pytest.mark.django_db


def run_once(connection, kind=SyncRun.Kind.INCREMENTAL):
    run, created = sync.start_sync(connection, "things", kind=kind)
    assert created
    sync.run_sync(run.pk)
    run.refresh_from_db()
    return run


def work_sync_queue():
    queue = django_rq.get_queue("sync")
    SimpleWorker([queue], connection=queue.connection).work(burst=True)


@pytest.fixture
def empty_sync_queue(redis_connection):
    django_rq.get_queue("sync").empty()


def test_a_full_pass_stores_every_row_and_counts_pages(paged_connection):
    PagedThings.pages = [items(1, 2), items(3, 4), items(5)]

    run = run_once(paged_connection)

    assert run.status == SyncRun.Status.SUCCEEDED
    assert (run.pages, run.added, run.updated, run.unchanged, run.deleted, run.failed) == (3, 5, 0, 0, 0, 0)
    assert sorted(PagedMirror.objects.values_list("external_id", flat=True)) == ["1", "2", "3", "4", "5"]
    assert run.finished_at is not None and run.heartbeat_at is not None


def test_unchanged_rows_are_not_rewritten(paged_connection):
    PagedThings.pages = [items(1, 2), items(3)]
    run_once(paged_connection)
    before = {r.external_id: r.synced_at for r in PagedMirror.objects.all()}

    PagedThings.pages = [items(1, 2), [{"id": 3, "name": "chose 3 renommée"}]]
    run = run_once(paged_connection)

    assert (run.added, run.updated, run.unchanged) == (0, 1, 2)
    after = {r.external_id: r for r in PagedMirror.objects.all()}
    assert after["1"].synced_at == before["1"] and after["2"].synced_at == before["2"]
    assert after["3"].synced_at > before["3"]
    assert after["3"].payload["name"] == "chose 3 renommée"


def test_a_crash_keeps_the_checkpoint_and_the_next_run_resumes_without_refetching(paged_connection):
    PagedThings.pages = [items(1, 2), items(3, 4), items(5, 6), items(7)]
    PagedThings.crash_on_page = 3

    failed = run_once(paged_connection)

    assert failed.status == SyncRun.Status.FAILED
    assert "coupure réseau pendant la page 3" in failed.error
    assert failed.checkpoint["page"] == 2
    assert PagedMirror.objects.count() == 4

    PagedThings.crash_on_page = None
    PagedThings.fetched = []
    resumed = run_once(paged_connection)

    assert PagedThings.fetched == [3, 4]
    assert resumed.status == SyncRun.Status.SUCCEEDED
    assert (resumed.pages, resumed.added) == (2, 3)
    assert PagedMirror.objects.count() == 7


def test_a_killed_worker_is_resumed_from_its_checkpoint_by_the_stale_run_job(paged_connection, empty_sync_queue):
    PagedThings.pages = [items(1), items(2), items(3), items(4)]
    PagedThings.crash_on_page, PagedThings.crash_with = 3, WorkerKilled
    run, _ = sync.start_sync(paged_connection, "things")
    with pytest.raises(WorkerKilled):
        sync.run_sync(run.pk)
    run.refresh_from_db()
    assert run.status == SyncRun.Status.RUNNING and run.checkpoint["page"] == 2

    assert sync.resume_stale_runs() == 0  # the heartbeat is fresh: maybe still working
    SyncRun.objects.filter(pk=run.pk).update(heartbeat_at=run.heartbeat_at - sync.HEARTBEAT_TIMEOUT - timedelta(1))

    PagedThings.crash_on_page, PagedThings.fetched = None, []
    assert sync.resume_stale_runs() == 1
    work_sync_queue()

    run.refresh_from_db()
    assert run.status == SyncRun.Status.SUCCEEDED
    assert PagedThings.fetched == [3, 4]
    assert run.pages == 4 and run.added == 4
    assert PagedMirror.objects.count() == 4


def test_a_run_whose_job_was_lost_is_queued_again(paged_connection, empty_sync_queue):
    PagedThings.pages = [items(1)]
    run, _ = sync.start_sync(paged_connection, "things")  # its job never reached Redis (no commit here)
    SyncRun.objects.filter(pk=run.pk).update(created_at=run.created_at - sync.HEARTBEAT_TIMEOUT - timedelta(1))

    assert sync.resume_stale_runs() == 1
    work_sync_queue()

    run.refresh_from_db()
    assert run.status == SyncRun.Status.SUCCEEDED and run.added == 1


def test_one_run_at_a_time_per_connection_and_resource(paged_connection):
    first, created = sync.start_sync(paged_connection, "things")
    second, created_again = sync.start_sync(paged_connection, "things", kind=SyncRun.Kind.FULL)

    assert created and not created_again
    assert second.pk == first.pk
    assert SyncRun.objects.count() == 1


def test_a_second_job_for_a_run_another_worker_holds_does_nothing(paged_connection):
    PagedThings.pages = [items(1)]
    run, _ = sync.start_sync(paged_connection, "things")
    SyncRun.objects.filter(pk=run.pk).update(status=SyncRun.Status.RUNNING, heartbeat_at=run.created_at)

    sync.run_sync(run.pk)  # e.g. a job enqueued twice

    assert PagedThings.fetched == []
    assert PagedMirror.objects.count() == 0


def test_a_full_sync_marks_rows_it_did_not_see_as_deleted(paged_connection):
    PagedThings.pages = [items(1, 2), items(3)]
    run_once(paged_connection, SyncRun.Kind.FULL)

    PagedThings.pages = [items(1), items(3)]
    run = run_once(paged_connection, SyncRun.Kind.FULL)

    assert run.deleted == 1
    assert set(PagedMirror.objects.filter(is_deleted=True).values_list("external_id", flat=True)) == {"2"}

    PagedThings.pages = [items(1, 2), items(3)]  # it comes back unchanged: revived
    run = run_once(paged_connection, SyncRun.Kind.FULL)
    assert not PagedMirror.objects.filter(is_deleted=True).exists()
    assert run.updated == 1


def test_a_resumed_full_sync_keeps_the_rows_seen_before_the_crash(paged_connection):
    PagedThings.pages = [items(1, 2), items(3, 4), items(5)]
    run_once(paged_connection, SyncRun.Kind.FULL)
    PagedThings.crash_on_page = 3
    run_once(paged_connection, SyncRun.Kind.FULL)

    PagedThings.crash_on_page = None
    PagedThings.fetched = []
    resumed = run_once(paged_connection, SyncRun.Kind.FULL)

    assert PagedThings.fetched == [3]
    assert resumed.deleted == 0
    assert not PagedMirror.objects.filter(is_deleted=True).exists()


def test_an_archived_item_counts_as_deleted(paged_connection):
    PagedThings.pages = [items(1, 2)]
    run_once(paged_connection)

    PagedThings.pages = [items(1) + [{"id": 2, "name": "chose 2", "archived": True}]]
    run = run_once(paged_connection)

    assert run.deleted == 1 and run.unchanged == 1
    assert PagedMirror.objects.get(external_id="2").is_deleted


def test_one_odd_record_fails_alone_never_the_run(paged_connection, monkeypatch):
    from datetime import datetime

    monkeypatch.setattr(PagedThings, "remote_updated_at",
                        lambda self, item: datetime.fromisoformat(item["updated_at"]) if "updated_at" in item else None)
    PagedThings.pages = [items(1, 2) + [{"id": 3, "name": "date impossible", "updated_at": "2026-13-45T99:00:00"},
                                        {"id": "x" * 2000, "name": "identifiant démesuré"}], items(4)]

    run = run_once(paged_connection)

    assert run.status == SyncRun.Status.SUCCEEDED
    assert run.failed == 2
    assert sorted(PagedMirror.objects.values_list("external_id", flat=True)) == ["1", "2", "4"]
