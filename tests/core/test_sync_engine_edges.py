"""The sync engine at its edges: when a run counts as stale (to the microsecond), what each counter means, what a
failing record or run leaves behind, where a new run starts, and which connections a periodic sync touches."""

from datetime import timedelta

import django_rq
import pytest
from django.utils import timezone

from apps.core import providers, sync
from apps.core.models import Connection, SyncRun
from tests.core.sync_doubles import PagedMirror, PagedProvider, PagedThings, items
from tests.core.sync_doubles import paged_connection, paged_mirror_table, paged_provider  # noqa: F401

pytestmark = pytest.mark.django_db


def run_once(connection, kind=SyncRun.Kind.INCREMENTAL):
    run, created = sync.start_sync(connection, "things", kind=kind)
    assert created
    sync.run_sync(run.pk)
    run.refresh_from_db()
    return run


@pytest.fixture
def frozen_now(monkeypatch):
    now = timezone.now()
    monkeypatch.setattr(timezone, "now", lambda: now)
    return now


@pytest.fixture
def sync_queue(redis_connection):
    queue = django_rq.get_queue("sync")
    queue.empty()
    return queue


# Stale or not --------------------------------------------------------------------------------------------------
def test_a_silent_worker_is_presumed_dead_after_five_minutes():
    assert sync.HEARTBEAT_TIMEOUT == timedelta(seconds=300)


@pytest.mark.parametrize("silence, resumed", [(timedelta(seconds=300), 0), (timedelta(seconds=300, microseconds=1), 1)])
def test_a_running_sync_is_resumed_only_once_its_heartbeat_is_older_than_the_timeout(
    paged_connection, frozen_now, sync_queue, silence, resumed
):
    run, _ = sync.start_sync(paged_connection, "things")
    SyncRun.objects.filter(pk=run.pk).update(status=SyncRun.Status.RUNNING, heartbeat_at=frozen_now - silence)
    assert sync.resume_stale_runs() == resumed
    run.refresh_from_db()
    assert run.status == (SyncRun.Status.QUEUED if resumed else SyncRun.Status.RUNNING)
    assert sync_queue.count == resumed
    if resumed:
        assert run.heartbeat_at == frozen_now  # not resumed twice by the next sweep
        assert sync.resume_stale_runs() == 0


@pytest.mark.parametrize("age, resumed", [(timedelta(seconds=300), 0), (timedelta(seconds=300, microseconds=1), 1)])
def test_a_run_still_queued_is_queued_again_only_once_older_than_the_timeout(
    paged_connection, frozen_now, sync_queue, age, resumed
):
    run, _ = sync.start_sync(paged_connection, "things")
    SyncRun.objects.filter(pk=run.pk).update(created_at=frozen_now - age, heartbeat_at=None)
    assert sync.resume_stale_runs() == resumed
    assert sync_queue.count == resumed


def test_a_queued_run_that_was_just_requeued_is_not_requeued_again(paged_connection, frozen_now, sync_queue):
    run, _ = sync.start_sync(paged_connection, "things")
    SyncRun.objects.filter(pk=run.pk).update(created_at=frozen_now - timedelta(hours=1),
                                             heartbeat_at=frozen_now - timedelta(seconds=10))
    assert sync.resume_stale_runs() == 0
    SyncRun.objects.filter(pk=run.pk).update(heartbeat_at=frozen_now - timedelta(seconds=301))
    assert sync.resume_stale_runs() == 1


def test_finished_runs_are_never_resumed(paged_connection, frozen_now, sync_queue):
    PagedThings.pages = [items(1)]
    run = run_once(paged_connection)
    SyncRun.objects.filter(pk=run.pk).update(heartbeat_at=frozen_now - timedelta(days=1),
                                             created_at=frozen_now - timedelta(days=1))
    assert sync.resume_stale_runs() == 0 and sync_queue.count == 0


# Counters ------------------------------------------------------------------------------------------------------
def test_each_counter_counts_what_it_says_over_successive_runs(paged_connection):
    PagedThings.pages = [items(1, 2), items(3)]
    first = run_once(paged_connection)
    assert (first.pages, first.added, first.updated, first.unchanged, first.deleted, first.failed) == (2, 3, 0, 0, 0, 0)
    assert first.status == SyncRun.Status.SUCCEEDED and first.finished_at is not None and first.error == ""

    PagedThings.pages = [items(1) + [{"id": 2, "name": "renommée"}], [{"id": 3, "name": "x", "archived": True}]]
    second = run_once(paged_connection)
    assert (second.added, second.updated, second.unchanged, second.deleted) == (0, 1, 1, 1)
    assert PagedMirror.objects.get(external_id="2").payload["name"] == "renommée"
    assert PagedMirror.objects.get(external_id="3").is_deleted


def test_a_row_marked_deleted_that_comes_back_unchanged_is_revived(paged_connection):
    PagedThings.pages = [items(1, 2)]
    run_once(paged_connection)
    PagedThings.pages = [items(1)]
    full = run_once(paged_connection, kind=SyncRun.Kind.FULL)
    assert full.deleted == 1 and PagedMirror.objects.get(external_id="2").is_deleted
    PagedThings.pages = [items(1, 2)]
    again = run_once(paged_connection)
    assert (again.unchanged, again.updated) == (1, 1)
    assert not PagedMirror.objects.get(external_id="2").is_deleted


def test_an_unchanged_row_is_marked_seen_by_a_full_run_and_left_alone_by_an_incremental_one(paged_connection,
                                                                                             monkeypatch):
    PagedThings.pages = [items(1)]
    run_once(paged_connection)
    first_seen = PagedMirror.objects.get().seen_at
    later = timezone.now() + timedelta(hours=2)
    monkeypatch.setattr(timezone, "now", lambda: later)
    run_once(paged_connection)
    assert PagedMirror.objects.get().seen_at == first_seen  # no change, no write
    run_once(paged_connection, kind=SyncRun.Kind.FULL)
    record = PagedMirror.objects.get()
    assert record.seen_at == later and record.synced_at < later


def test_a_changed_row_records_when_and_what(paged_connection, monkeypatch):
    PagedThings.pages = [items(1)]
    when = timezone.now() - timedelta(minutes=5)
    monkeypatch.setattr(timezone, "now", lambda: when)
    run_once(paged_connection)
    record = PagedMirror.objects.get()
    assert (record.seen_at, record.synced_at, record.payload) == (when, when, {"id": 1, "name": "chose 1"})
    assert record.content_hash and not record.is_deleted


# Failures ------------------------------------------------------------------------------------------------------
def test_a_record_that_cannot_be_applied_is_counted_and_the_others_are_applied(paged_connection, monkeypatch):
    applied = []

    def apply(self, record):
        if record.external_id == "2":
            PagedMirror.objects.filter(external_id="1").update(payload={"écrit": "puis annulé"})
            raise ValueError("mauvais enregistrement")
        applied.append(record.external_id)

    monkeypatch.setattr(PagedThings, "apply", apply)
    PagedThings.pages = [items(1, 2, 3)]
    run = run_once(paged_connection)
    assert (run.status, run.failed, run.added) == (SyncRun.Status.SUCCEEDED, 1, 3)
    assert applied == ["1", "3"]
    assert PagedMirror.objects.get(external_id="1").payload == {"id": 1, "name": "chose 1"}  # its writes undone
    assert all(record.pk for record in PagedMirror.objects.all())


def test_apply_receives_saved_rows(paged_connection, monkeypatch):
    seen = []
    monkeypatch.setattr(PagedThings, "apply", lambda self, record: seen.append((record.pk, record.external_id)))
    PagedThings.pages = [items(1, 2)]
    run_once(paged_connection)
    assert sorted(seen) == sorted(PagedMirror.objects.values_list("pk", "external_id"))


def test_a_failed_run_keeps_its_error_cut_at_10000_characters_and_its_checkpoint(paged_connection):
    PagedThings.pages = [items(1), items(2)]
    PagedThings.crash_on_page = 2
    run = run_once(paged_connection)
    assert run.status == SyncRun.Status.FAILED and run.finished_at is not None
    assert run.error.startswith("coupure réseau pendant la page 2\n\nTraceback")
    assert run.checkpoint["page"] == 1

    class Huge(RuntimeError):
        def __str__(self):
            return "e" * 20000

    PagedThings.crash_with, PagedThings.crash_on_page = Huge, 1
    SyncRun.objects.all().delete()
    run = run_once(paged_connection)
    assert run.error == "e" * 10000


# Where a run starts --------------------------------------------------------------------------------------------
def test_a_new_run_resumes_a_failed_one_of_its_kind_and_says_so(paged_connection):
    PagedThings.pages = [items(1), items(2), items(3)]
    PagedThings.crash_on_page = 3
    failed = run_once(paged_connection)
    PagedThings.crash_on_page, PagedThings.fetched = None, []
    resumed = run_once(paged_connection)
    assert PagedThings.fetched == [3]
    assert resumed.status == SyncRun.Status.SUCCEEDED
    other_kind, _ = sync.start_sync(paged_connection, "things", kind=SyncRun.Kind.FULL)
    assert other_kind.checkpoint == {}
    SyncRun.objects.filter(pk=other_kind.pk).delete()
    fresh, _ = sync.start_sync(paged_connection, "things")
    assert fresh.checkpoint == {}  # the last run of its kind succeeded: nothing to resume
    SyncRun.objects.filter(pk=fresh.pk).delete()
    SyncRun.objects.filter(pk=resumed.pk).delete()
    again, _ = sync.start_sync(paged_connection, "things")
    assert again.checkpoint == {"page": 2, "resumed_from": failed.pk}


def test_an_incremental_run_starts_from_the_last_success_and_never_sees_engine_keys(paged_connection, monkeypatch):
    given = []

    def initial_checkpoint(self, kind, last_success):
        given.append((kind, last_success))
        return {}

    def fetch_page(self, checkpoint):
        given.append(dict(checkpoint))
        return sync.Page(items=[], checkpoint={"page": 1, "cursor": "c-9"}, done=True)

    monkeypatch.setattr(PagedThings, "initial_checkpoint", initial_checkpoint)
    monkeypatch.setattr(PagedThings, "fetch_page", fetch_page)
    monkeypatch.setattr(PagedThings, "final_checkpoint", lambda self, checkpoint: {"since": checkpoint["cursor"]})
    first = run_once(paged_connection)
    assert first.checkpoint == {"since": "c-9"}
    run_once(paged_connection)
    assert given == [("incremental", None), {}, ("incremental", {"since": "c-9"}), {}]
    given.clear()
    full = run_once(paged_connection, kind=SyncRun.Kind.FULL)
    assert given == [("full", {"since": "c-9"}), {}]
    assert full.status == SyncRun.Status.SUCCEEDED


def test_starting_an_unknown_resource_fails_at_once_and_creates_nothing(paged_connection):
    with pytest.raises(KeyError):
        sync.start_sync(paged_connection, "nothing-like-this")
    assert not SyncRun.objects.exists()


def test_a_started_run_is_queued_on_the_sync_queue_once_committed(paged_connection, sync_queue,
                                                                  django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        run, created = sync.start_sync(paged_connection, "things", kind=SyncRun.Kind.FULL)
    assert created and (run.kind, run.status, run.resource) == ("full", SyncRun.Status.QUEUED, "things")
    (job,) = sync_queue.get_jobs()
    assert (job.func, job.args, job.timeout) == (sync.run_sync, (run.pk,), 3600)


# Periodic sync of every connection -----------------------------------------------------------------------------
def test_the_periodic_sync_queues_each_resource_of_each_active_connection_once(paged_provider, sync_queue,
                                                                              django_capture_on_commit_callbacks):
    active = Connection.objects.create(provider=PagedProvider.key, name="A", slug="a")
    Connection.objects.create(provider=PagedProvider.key, name="B", slug="b", is_active=False)
    Connection.objects.create(provider="not-installed", name="C", slug="c")
    with django_capture_on_commit_callbacks(execute=True):
        assert sync.sync_all() == 1
        assert sync.sync_all() == 0  # still queued: single flight
    assert list(SyncRun.objects.values_list("connection_id", "kind")) == [(active.pk, "incremental")]
    assert sync_queue.count == 1


def test_the_periodic_sync_can_be_limited_to_one_provider_and_to_full_runs(paged_provider):
    Connection.objects.create(provider=PagedProvider.key, name="A", slug="a")
    assert sync.sync_all(provider_key="another-provider") == 0
    assert sync.sync_all(kind=SyncRun.Kind.FULL, provider_key=PagedProvider.key) == 1
    assert SyncRun.objects.get().kind == "full"
    providers.get(PagedProvider.key)  # still registered


def test_a_resource_is_built_with_its_run_and_its_connection_s_client(paged_connection, monkeypatch):
    built = []
    monkeypatch.setattr(PagedProvider, "client", lambda self, connection: ("client of", connection.pk))

    def fetch_page(self, checkpoint):
        built.append((self.run.pk, self.client, self.connection.pk))
        return sync.Page(items=[], checkpoint={}, done=True)

    monkeypatch.setattr(PagedThings, "fetch_page", fetch_page)
    run = run_once(paged_connection)
    assert built == [(run.pk, ("client of", paged_connection.pk), paged_connection.pk)]


def test_a_resource_that_does_not_say_what_deleted_means_never_marks_rows_deleted():
    assert sync.SyncResource.is_deleted(None, {"id": 1, "archived": True, "is_deleted": True}) is False


def test_two_connections_of_one_system_keep_their_own_rows(paged_provider):
    first = Connection.objects.create(provider=PagedProvider.key, name="A", slug="a")
    second = Connection.objects.create(provider=PagedProvider.key, name="B", slug="b")
    PagedThings.pages = [items(1, 2)]
    run_once(first)
    run_b = run_once(second)
    assert (run_b.added, run_b.unchanged) == (2, 0)
    PagedThings.pages = [items(1)]
    full_b = run_once(second, kind=SyncRun.Kind.FULL)
    assert full_b.deleted == 1
    assert not PagedMirror.objects.filter(connection=first, is_deleted=True).exists()
    again = run_once(second, kind=SyncRun.Kind.FULL)
    assert again.deleted == 0  # a row already marked deleted is not counted again


def test_every_stale_run_is_requeued_with_a_one_hour_job_timeout(paged_provider, frozen_now, sync_queue):
    connections = [Connection.objects.create(provider=PagedProvider.key, name=n, slug=n) for n in ("a", "b", "c")]
    for connection in connections:
        run, _ = sync.start_sync(connection, "things")
        SyncRun.objects.filter(pk=run.pk).update(status=SyncRun.Status.RUNNING,
                                                 heartbeat_at=frozen_now - timedelta(hours=1))
    assert sync.resume_stale_runs() == 3
    jobs = sync_queue.get_jobs()
    assert len(jobs) == 3 and {job.timeout for job in jobs} == {3600}


def test_the_periodic_sync_skips_a_system_not_installed_and_counts_every_start(paged_provider):
    Connection.objects.create(provider="not-installed", name="C", slug="c")
    for name in ("a", "b"):
        Connection.objects.create(provider=PagedProvider.key, name=name, slug=name)
    assert sync.sync_all() == 2


def test_syncing_one_connection_never_touches_another_s_rows(paged_provider, monkeypatch):
    first = Connection.objects.create(provider=PagedProvider.key, name="A", slug="a")
    second = Connection.objects.create(provider=PagedProvider.key, name="B", slug="b")
    PagedThings.pages = [items(1)]
    run_once(first)
    run_once(second)
    before = PagedMirror.objects.get(connection=first).seen_at
    applied = []
    monkeypatch.setattr(PagedThings, "apply", lambda self, record: applied.append(record.connection_id))
    PagedThings.pages = [items(1, 2)]
    later = timezone.now() + timedelta(hours=1)
    monkeypatch.setattr(timezone, "now", lambda: later)
    run_once(second)
    assert PagedMirror.objects.get(connection=first).seen_at == before
    assert applied == [second.pk]


def test_counts_add_up_over_pages_and_records(paged_connection, monkeypatch):
    def apply(self, record):
        if record.payload.get("bad"):
            raise ValueError("mauvais")

    monkeypatch.setattr(PagedThings, "apply", apply)
    PagedThings.pages = [items(1, 2), items(3)]
    run_once(paged_connection)
    PagedThings.pages = [items(1, bad=True) + items(2, archived=True), items(3, archived=True)]
    run = run_once(paged_connection)
    assert (run.failed, run.deleted, run.updated) == (1, 2, 1)
    PagedThings.pages = [items(4, 5, bad=True), items(6, bad=True)]
    assert run_once(paged_connection).failed == 3


def test_a_new_run_starts_from_the_last_success_of_its_own_connection_and_resource(paged_provider, monkeypatch):
    first = Connection.objects.create(provider=PagedProvider.key, name="A", slug="a")
    other = Connection.objects.create(provider=PagedProvider.key, name="B", slug="b")
    now = timezone.now()
    SyncRun.objects.create(connection=first, resource="things", status=SyncRun.Status.SUCCEEDED,
                           checkpoint={"since": "later-finish"}, finished_at=now)
    SyncRun.objects.create(connection=first, resource="things", status=SyncRun.Status.SUCCEEDED,
                           checkpoint={"since": "earlier-finish"}, finished_at=now - timedelta(hours=1))
    SyncRun.objects.create(connection=other, resource="things", status=SyncRun.Status.SUCCEEDED,
                           checkpoint={"since": "other-connection"}, finished_at=now + timedelta(hours=1))
    SyncRun.objects.create(connection=first, resource="others", status=SyncRun.Status.SUCCEEDED,
                           checkpoint={"since": "other-resource"}, finished_at=now + timedelta(hours=1))
    assert sync.last_success_checkpoint(first, "things") == {"since": "later-finish"}
    assert sync.last_success_checkpoint(first, "nothing") is None
