"""The sync engine's page writes and its bookkeeping, where a wrong line would go unnoticed: the id length at its
column's bound, the counts of a page, the columns copied from each item, the rows of another connection, a page
that falls back to record-by-record application, who started a run and which earlier run it resumes, the progress
announced to the live pages, and the runs the sweeper takes back."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from apps.core import jobs, sync
from apps.core.models import Connection, SyncRun
from apps.core.signals import sync_run_progressed
from tests.core.sync_doubles import WorkerKilled, PagedMirror, PagedProvider, PagedThings, items
from tests.core.sync_doubles import paged_connection, paged_mirror_table, paged_provider  # noqa: F401
from tests.core.sync_doubles import two_resources_connection  # noqa: F401

pytestmark = pytest.mark.django_db

ID_LENGTH = PagedMirror._meta.get_field("external_id").max_length


def run_once(connection, kind=SyncRun.Kind.INCREMENTAL, user=None):
    run, created = sync.start_sync(connection, "things", kind=kind, user=user)
    assert created
    sync.run_sync(run.pk)
    run.refresh_from_db()
    return run


def resource_of(connection):
    return PagedThings(connection, SyncRun(connection=connection, resource="things"))


# What a page writes --------------------------------------------------------------------------------------------
def test_an_id_as_long_as_its_column_is_kept_and_one_longer_is_refused_with_its_length(paged_connection):
    at_bound, past_it = "a" * ID_LENGTH, "b" * (ID_LENGTH + 1)
    result = sync.upsert(resource_of(paged_connection), [{"id": at_bound}, {"id": past_it}], timezone.now())
    assert (result.added, result.failed) == (1, 1)
    assert list(PagedMirror.objects.values_list("external_id", flat=True)) == [at_bound]
    # Invoice Ninja shows this sentence when the one object a webhook brings cannot be stored.
    assert result.errors == [f"Enregistrement refusé (things) : identifiant de {ID_LENGTH + 1} caractères "
                             f"(au plus {ID_LENGTH})"]


def test_a_row_upserted_again_unchanged_outside_a_run_is_marked_seen(paged_connection):
    # What a system app's webhook does with the one object it brings (Invoice Ninja): upsert() on its own.
    resource = resource_of(paged_connection)
    first = timezone.now() - timedelta(hours=1)
    sync.upsert(resource, items(1), first)
    result = sync.upsert(resource, items(1), first + timedelta(hours=1))
    assert result.unchanged == 1
    assert PagedMirror.objects.get().seen_at == first + timedelta(hours=1)


def test_a_page_counts_each_update_and_each_deletion(paged_connection):
    PagedThings.pages = [items(1, 2, 3, 4)]
    run_once(paged_connection)
    PagedThings.pages = [[{"id": 1, "name": "un"}, {"id": 2, "name": "deux"},
                          {"id": 3, "name": "chose 3", "archived": True}, {"id": 4, "name": "chose 4", "archived": True}]]
    second = run_once(paged_connection)
    assert (second.updated, second.deleted) == (2, 2)


def test_each_mirror_copies_its_columns_from_its_own_item_when_created_and_when_changed(paged_connection):
    PagedThings.pages = [items(1, 2)]
    run_once(paged_connection)
    assert dict(PagedMirror.objects.values_list("external_id", "name")) == {"1": "chose 1", "2": "chose 2"}
    PagedThings.pages = [[{"id": 1, "name": "renommée"}, {"id": 2, "name": "chose 2"}]]
    run_once(paged_connection)
    assert dict(PagedMirror.objects.values_list("external_id", "name")) == {"1": "renommée", "2": "chose 2"}


def test_a_changed_row_keeps_the_vendor_s_new_modification_time(paged_connection, monkeypatch):
    monkeypatch.setattr(PagedThings, "remote_updated_at", lambda self, item: parse_datetime(item["updated_at"]))
    PagedThings.pages = [[{"id": 1, "name": "a", "updated_at": "2026-03-01T10:00:00+00:00"}]]
    run_once(paged_connection)
    PagedThings.pages = [[{"id": 1, "name": "b", "updated_at": "2026-03-02T11:30:00+00:00"}]]
    run_once(paged_connection)
    assert PagedMirror.objects.get().remote_updated_at.isoformat() == "2026-03-02T11:30:00+00:00"


def test_a_full_run_marks_seen_only_its_own_connection_s_unchanged_rows(paged_provider, monkeypatch):
    mine = Connection.objects.create(provider=PagedProvider.key, name="A", slug="a")
    theirs = Connection.objects.create(provider=PagedProvider.key, name="B", slug="b")
    PagedThings.pages = [items(1)]
    run_once(mine)
    run_once(theirs)
    their_seen = PagedMirror.objects.get(connection=theirs).seen_at
    later = timezone.now() + timedelta(hours=1)
    monkeypatch.setattr(timezone, "now", lambda: later)
    run_once(mine, kind=SyncRun.Kind.FULL)
    assert PagedMirror.objects.get(connection=mine).seen_at == later
    assert PagedMirror.objects.get(connection=theirs).seen_at == their_seen


def test_a_page_that_falls_back_to_record_by_record_counts_every_failure(paged_connection, monkeypatch):
    def apply_page(self, records):
        raise RuntimeError("écriture groupée refusée")

    def apply(self, record):
        if record.external_id == "2":
            raise ValueError("mauvais enregistrement")

    monkeypatch.setattr(PagedThings, "apply_page", apply_page)
    monkeypatch.setattr(PagedThings, "apply", apply)
    PagedThings.pages = [items(1, 2, 3) + [{"id": "x" * (ID_LENGTH + 1)}]]
    run = run_once(paged_connection)
    assert (run.status, run.added, run.failed) == (SyncRun.Status.SUCCEEDED, 3, 2)  # the refused id and record 2


def test_a_full_run_counts_the_page_s_deletions_and_the_unseen_rows_it_sweeps(paged_connection):
    PagedThings.pages = [items(1, 2, 3)]
    run_once(paged_connection)
    PagedThings.pages = [[{"id": 1, "name": "chose 1", "archived": True}, {"id": 2, "name": "chose 2"}]]
    full = run_once(paged_connection, kind=SyncRun.Kind.FULL)
    assert full.deleted == 2  # 1 archived in the page, 3 no longer listed
    assert set(PagedMirror.objects.filter(is_deleted=True).values_list("external_id", flat=True)) == {"1", "3"}


# Who started a run, and what it resumes ------------------------------------------------------------------------
def test_a_run_remembers_who_started_it(paged_connection):
    user = get_user_model().objects.create_user("tresorerie", password="x")
    PagedThings.pages = [items(1)]
    assert run_once(paged_connection, user=user).started_by == user


def test_starting_a_resource_already_syncing_returns_that_connection_s_active_run(paged_provider):
    mine = Connection.objects.create(provider=PagedProvider.key, name="A", slug="a")
    theirs = Connection.objects.create(provider=PagedProvider.key, name="B", slug="b")
    PagedThings.pages = [items(1)]
    run_once(mine)  # a finished run of the same connection and resource
    active, _ = sync.start_sync(mine, "things")
    sync.start_sync(theirs, "things")
    again, created = sync.start_sync(mine, "things")
    assert (again, created) == (active, False)


def test_a_failed_run_of_another_connection_is_never_resumed(paged_provider):
    mine = Connection.objects.create(provider=PagedProvider.key, name="A", slug="a")
    theirs = Connection.objects.create(provider=PagedProvider.key, name="B", slug="b")
    PagedThings.pages = [items(1), items(2)]
    PagedThings.crash_on_page = 2
    assert run_once(theirs).status == SyncRun.Status.FAILED
    run, _ = sync.start_sync(mine, "things")
    assert run.checkpoint == {}


def test_a_failed_run_of_one_resource_is_never_resumed_by_another_s(two_resources_connection):
    PagedThings.pages = [items(1), items(2)]
    PagedThings.crash_on_page = 2
    failed, _ = sync.start_sync(two_resources_connection, "things")
    sync.run_sync(failed.pk)
    failed.refresh_from_db()
    assert (failed.status, failed.checkpoint) == (SyncRun.Status.FAILED, {"page": 1})
    others, _ = sync.start_sync(two_resources_connection, "others")
    assert others.checkpoint == {}


def test_a_second_start_points_to_its_own_resource_s_running_run_while_another_resource_runs(
        two_resources_connection):
    things, _ = sync.start_sync(two_resources_connection, "things")
    sync.start_sync(two_resources_connection, "others")
    again, created = sync.start_sync(two_resources_connection, "things")
    assert (again, created) == (things, False)


def test_a_failed_full_run_is_not_resumed_by_an_incremental_one(paged_connection):
    PagedThings.pages = [items(1), items(2)]
    PagedThings.crash_on_page = 2
    assert run_once(paged_connection, kind=SyncRun.Kind.FULL).status == SyncRun.Status.FAILED
    run, _ = sync.start_sync(paged_connection, "things", kind=SyncRun.Kind.INCREMENTAL)
    assert run.checkpoint == {}


# Progress for the live pages -----------------------------------------------------------------------------------
def test_the_live_pages_hear_of_every_page_and_of_the_run_s_end(paged_connection):
    heard = []

    def receiver(sender, run, **kwargs):
        heard.append((run.pages, run.status))

    sync_run_progressed.connect(receiver, sender=SyncRun)
    try:
        PagedThings.pages = [items(1), items(2), items(3)]
        run_once(paged_connection)
        PagedThings.pages, PagedThings.crash_on_page = [items(4)], 1
        run_once(paged_connection)
    finally:
        sync_run_progressed.disconnect(receiver, sender=SyncRun)
    assert heard == [(1, SyncRun.Status.RUNNING), (2, SyncRun.Status.RUNNING), (3, SyncRun.Status.SUCCEEDED),
                     (0, SyncRun.Status.FAILED)]


# Runs the sweeper takes back -----------------------------------------------------------------------------------
def test_a_run_whose_worker_died_before_its_first_page_is_taken_back_after_the_timeout(paged_connection,
                                                                                      monkeypatch):
    PagedThings.pages, PagedThings.crash_on_page, PagedThings.crash_with = [items(1)], 1, WorkerKilled
    run, _ = sync.start_sync(paged_connection, "things")
    with pytest.raises(WorkerKilled):
        sync.run_sync(run.pk)
    assert SyncRun.objects.get(pk=run.pk).status == SyncRun.Status.RUNNING
    monkeypatch.setattr(jobs, "enqueue_now", lambda *args, **kwargs: None)
    assert sync.resume_stale_runs() == 0
    later = timezone.now() + sync.HEARTBEAT_TIMEOUT + timedelta(seconds=1)
    monkeypatch.setattr(timezone, "now", lambda: later)
    assert sync.resume_stale_runs() == 1
    assert SyncRun.objects.get(pk=run.pk).status == SyncRun.Status.QUEUED


def test_a_run_whose_worker_beats_again_during_the_sweep_is_left_to_it(paged_provider, monkeypatch):
    now = timezone.now()
    runs = []
    for name in ("a", "b"):
        connection = Connection.objects.create(provider=PagedProvider.key, name=name, slug=name)
        run, _ = sync.start_sync(connection, "things")
        SyncRun.objects.filter(pk=run.pk).update(status=SyncRun.Status.RUNNING, heartbeat_at=now - timedelta(hours=1))
        runs.append(run)
    enqueued = []

    def enqueue_now(func, run_id, **kwargs):
        enqueued.append(run_id)
        # Meanwhile, the other run's worker comes back and beats.
        SyncRun.objects.exclude(pk=run_id).update(heartbeat_at=timezone.now())

    monkeypatch.setattr(jobs, "enqueue_now", enqueue_now)
    assert sync.resume_stale_runs() == 1
    assert len(enqueued) == 1
    other = SyncRun.objects.exclude(pk=enqueued[0]).get()
    assert other.status == SyncRun.Status.RUNNING  # still its worker's


def test_the_periodic_sync_goes_on_past_a_system_that_is_not_installed(paged_provider):
    Connection.objects.create(provider="a-not-installed", name="Z", slug="z")  # listed first (provider, name)
    Connection.objects.create(provider=PagedProvider.key, name="A", slug="a")
    assert sync.sync_all() == 1
