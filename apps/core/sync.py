"""The sync engine: pull a vendor resource page by page into ExternalRecord mirrors.

A SyncRun is single-flight per (connection, resource), saves its checkpoint after every page and
beats a heartbeat, so a killed worker's run is found stale and resumed from where it stopped.
Upserts are bulk and keyed by (connection, external id); a row whose content hash did not change
is not rewritten. An incremental run does not even touch an unchanged row's `seen_at` (only a full run's
deletion sweep reads it) unless its resource says it must (`marks_unchanged_seen`); and the last page's
rows, checkpoint and success are one transaction, so an incremental run that finds nothing new writes the
SyncRun record and nothing else. A page's changed rows reach the hub through the resource's `apply_page`: one
`apply()` per record by default, a few bulk statements where the resource knows how (Invoice Ninja's first
import), with the per-record way as the fallback when the bulk way fails.
"""

from __future__ import annotations

import logging
import traceback
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import ClassVar

from django.conf import settings
from django.db import IntegrityError, connections, transaction
from django.db.models import Q
from django.utils import timezone

from apps.core import jobs, providers
from apps.core.models import Connection, ExternalRecord, SyncRun
from apps.core.signals import sync_run_progressed

logger = logging.getLogger(__name__)

HEARTBEAT_TIMEOUT = timedelta(seconds=getattr(settings, "SYNC_HEARTBEAT_TIMEOUT_SECONDS", 300))

# Keys the engine keeps in SyncRun.checkpoint next to the resource's own; resources never see them.
# `sweep_since` is when the full pass began: a resumed full sync must not mark as deleted the rows
# the interrupted run saw on its first pages.
ENGINE_KEYS = ("resumed_from", "sweep_since")


@dataclass
class Page:
    items: list[dict]
    # Where the next page starts; saved with the page's rows in one transaction.
    checkpoint: dict
    done: bool


@dataclass
class UpsertResult:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)  # one readable line per failed item
    changed: list[ExternalRecord] = field(default_factory=list)


class SyncResource:
    """One pullable collection of a provider. Subclass per resource in the system app's sync.py."""

    name: ClassVar[str]
    label: ClassVar[str]
    model: ClassVar[type[ExternalRecord]]
    # True when the app reads `seen_at` of unchanged rows as "the vendor confirmed it lately" (e.g. a balance's
    # freshness): incremental runs then touch it too. Full runs always do, for their deletion sweep.
    marks_unchanged_seen: ClassVar[bool] = False

    def __init__(self, connection: Connection, run: SyncRun):
        self.connection = connection
        self.run = run
        self.client = providers.for_connection(connection).client(connection)

    def initial_checkpoint(self, kind: str, last_success: dict | None) -> dict:
        """Where a new run starts. `last_success` is the final checkpoint of the last successful run."""
        return {}

    def fetch_page(self, checkpoint: dict) -> Page:
        raise NotImplementedError

    def external_id(self, item: dict) -> str:
        return str(item["id"])

    def remote_updated_at(self, item: dict) -> datetime | None:
        return None

    def is_deleted(self, item: dict) -> bool:
        return False

    # Columns of the mirror model filled from the payload by `copy_columns`, for lookups that need an index.
    copied_columns: ClassVar[tuple[str, ...]] = ()

    def copy_columns(self, record: ExternalRecord, item: dict) -> None:
        """Set `copied_columns` on a mirror about to be written from `item`."""

    def apply(self, record: ExternalRecord) -> None:
        """Reflect one added or changed mirror into the hub records. Runs in its own savepoint."""

    def apply_page(self, records: list[ExternalRecord]) -> int:
        """Reflect a page's added or changed mirrors; returns how many could not be applied.

        Runs in one savepoint. A resource that can write a page in a few bulk statements overrides it; if
        that raises, the engine rolls the page's hub writes back and applies the page with `apply_each`,
        so one odd record still fails alone.
        """
        return self.apply_each(records)

    def apply_each(self, records: list[ExternalRecord]) -> int:
        """`apply()` per record, each in its own savepoint; returns how many failed."""
        failed = 0
        for record in records:
            try:
                with transaction.atomic():
                    self.apply(record)
            except Exception:
                failed += 1
                logger.exception("Enregistrement %s non appliqué", record.external_id)
        return failed

    def final_checkpoint(self, checkpoint: dict) -> dict:
        """What the next incremental run needs (a high-water mark), computed from the last checkpoint."""
        return checkpoint


def upsert(resource: SyncResource, items: list[dict], seen_at: datetime, *,
           mark_unchanged_seen: bool = True) -> UpsertResult:
    model = resource.model
    connection = resource.connection
    result = UpsertResult()
    incoming, prepared = {}, {}
    id_length = model._meta.get_field("external_id").max_length
    for item in items:
        # One odd record (an impossible date, an id longer than the column) fails alone, never the page: the
        # bulk writes below would otherwise refuse the whole page, and the run with it.
        try:
            external_id = resource.external_id(item)
            if len(external_id) > id_length:
                raise ValueError(f"identifiant de {len(external_id)} caractères (au plus {id_length})")
            prepared[external_id] = (ExternalRecord.hash_payload(item), resource.is_deleted(item),
                                     resource.remote_updated_at(item))
        except (ValueError, TypeError, LookupError, ArithmeticError, OverflowError) as exc:
            result.failed += 1
            result.errors.append(f"Enregistrement refusé ({resource.name}) : {exc}")
            logger.warning("%s", result.errors[-1])
            continue
        incoming[external_id] = item
    existing = {
        record.external_id: record
        for record in model.objects.filter(connection=connection, external_id__in=list(incoming))
    }
    to_create, to_update = [], []
    for external_id, item in incoming.items():
        content_hash, deleted, remote_updated_at = prepared[external_id]
        record = existing.get(external_id)
        if record is None:
            record = model(connection=connection, external_id=external_id)
            to_create.append(record)
            result.added += 1
        elif record.content_hash == content_hash and record.is_deleted == deleted:
            # A row a full sync marked deleted that shows up again unchanged is revived, not skipped.
            result.unchanged += 1
            continue
        else:
            to_update.append(record)
            if deleted and not record.is_deleted:
                result.deleted += 1
            else:
                result.updated += 1
        record.payload = item
        record.content_hash = content_hash
        record.remote_updated_at = remote_updated_at
        record.is_deleted = deleted
        record.seen_at = seen_at
        record.synced_at = seen_at
        resource.copy_columns(record, item)
        result.changed.append(record)
    model.objects.bulk_create(to_create, batch_size=500)
    model.objects.bulk_update(
        to_update,
        ["payload", "content_hash", "remote_updated_at", "is_deleted", "seen_at", "synced_at",
         *resource.copied_columns],
        batch_size=500,
    )
    if result.unchanged and mark_unchanged_seen:
        changed_ids = {record.external_id for record in result.changed}
        model.objects.filter(
            connection=connection, external_id__in=[i for i in incoming if i not in changed_ids]
        ).update(seen_at=seen_at)
    if to_create and not connections[model.objects.db].features.can_return_rows_from_bulk_insert:
        # bulk_create does not return primary keys on every backend; reload so apply() gets saved rows.
        created = {r.external_id for r in to_create}
        reloaded = {r.external_id: r for r in model.objects.filter(connection=connection, external_id__in=created)}
        result.changed = [reloaded.get(r.external_id, r) for r in result.changed]
    return result


def start_sync(connection: Connection, resource: str, *, kind: str = SyncRun.Kind.INCREMENTAL,
               user=None) -> tuple[SyncRun, bool]:
    """Queue a run unless one is already queued or running; returns (run, created)."""
    providers.for_connection(connection).sync_resource(resource)  # unknown resource: KeyError now, not in a job
    try:
        with transaction.atomic():
            run = SyncRun.objects.create(
                connection=connection, resource=resource, kind=kind, started_by=user,
                checkpoint=_resume_checkpoint(connection, resource, kind),
            )
    except IntegrityError:
        return SyncRun.objects.get(connection=connection, resource=resource, status__in=SyncRun.ACTIVE_STATUSES), False
    jobs.enqueue_on_commit(run_sync, run.pk, queue="sync", job_timeout=3600)
    return run, True


def _resume_checkpoint(connection, resource, kind) -> dict:
    """A new run continues an interrupted one: the checkpoint of a later failed/stale run wins."""
    last = (
        SyncRun.objects.filter(connection=connection, resource=resource, kind=kind)
        .exclude(status__in=SyncRun.ACTIVE_STATUSES)
        .order_by("-created_at", "-id")
        .first()
    )
    if last and last.status in (SyncRun.Status.FAILED, SyncRun.Status.STALE) and last.checkpoint:
        return dict(last.checkpoint, resumed_from=last.pk)
    return {}


def last_success_checkpoint(connection, resource) -> dict | None:
    last = (
        SyncRun.objects.filter(connection=connection, resource=resource, status=SyncRun.Status.SUCCEEDED)
        .order_by("-finished_at", "-id")
        .first()
    )
    return last.checkpoint if last else None


def run_sync(run_id: int) -> None:
    """The job: run or resume one SyncRun to its end."""
    with transaction.atomic():
        run = SyncRun.objects.select_for_update().select_related("connection").get(pk=run_id)
        if run.status != SyncRun.Status.QUEUED:
            # Finished, or another worker already claimed it (a duplicate job): nothing to do.
            return
        now = timezone.now()
        run.status = SyncRun.Status.RUNNING
        run.started_at = run.started_at or now
        run.heartbeat_at = now
        run.save(update_fields=["status", "started_at", "heartbeat_at"])

    resource_class = providers.for_connection(run.connection).sync_resource(run.resource)
    resource = resource_class(run.connection, run)
    checkpoint = dict(run.checkpoint)
    engine_state = {key: checkpoint.pop(key) for key in ENGINE_KEYS if key in checkpoint}
    if run.kind == SyncRun.Kind.FULL:
        engine_state.setdefault("sweep_since", run.started_at.isoformat())
    checkpoint = checkpoint or resource.initial_checkpoint(
        run.kind, last_success_checkpoint(run.connection, run.resource)
    )
    try:
        while True:
            page = resource.fetch_page(checkpoint)
            with transaction.atomic():
                _apply_page(run, resource, page, engine_state)
                if page.done:
                    # The last page's rows and the run's success commit together: one SyncRun write, not two.
                    if run.kind == SyncRun.Kind.FULL:
                        since = datetime.fromisoformat(engine_state["sweep_since"])
                        run.deleted += _mark_unseen_deleted(resource, since)
                    run.checkpoint = resource.final_checkpoint(page.checkpoint)
                    run.status = SyncRun.Status.SUCCEEDED
                    run.finished_at = run.heartbeat_at = timezone.now()
                    run.save()
            checkpoint = page.checkpoint
            if page.done:
                break
            sync_run_progressed.send(sender=SyncRun, run=run)
    except Exception as exc:  # the run records any failure; the checkpoint stays for a resume
        logger.exception("Synchronisation %s en échec", run)
        run.status = SyncRun.Status.FAILED
        run.error = f"{exc}\n\n{traceback.format_exc()}"[:10000]
        run.finished_at = timezone.now()
        run.save(update_fields=["status", "error", "finished_at"])
    sync_run_progressed.send(sender=SyncRun, run=run)


def _apply_page(run: SyncRun, resource: SyncResource, page: Page, engine_state: dict) -> None:
    now = timezone.now()
    with transaction.atomic():
        mark_unchanged_seen = run.kind == SyncRun.Kind.FULL or resource.marks_unchanged_seen
        result = upsert(resource, page.items, seen_at=now, mark_unchanged_seen=mark_unchanged_seen)
        failed = result.failed
        if result.changed:
            try:
                with transaction.atomic():
                    failed += resource.apply_page(result.changed)
            except Exception:
                logger.exception("Page de %s appliquée enregistrement par enregistrement", resource.name)
                failed += resource.apply_each(result.changed)
        run.pages += 1
        run.added += result.added
        run.updated += result.updated
        run.unchanged += result.unchanged
        run.deleted += result.deleted
        run.failed += failed
        run.checkpoint = {**page.checkpoint, **engine_state}
        run.heartbeat_at = now
        if page.done:
            return  # run_sync saves the run once, as succeeded, in this same transaction
        run.save(update_fields=["pages", "added", "updated", "unchanged", "deleted", "failed", "checkpoint",
                                "heartbeat_at"])


def _mark_unseen_deleted(resource: SyncResource, since: datetime) -> int:
    return (
        resource.model.objects.filter(connection=resource.connection, is_deleted=False)
        .exclude(seen_at__gte=since)
        .update(is_deleted=True)
    )


def resume_stale_runs() -> int:
    """Periodic job: queue again the runs that lost their worker or their job.

    A running sync whose heartbeat stopped lost its worker; it resumes from its checkpoint. A run still
    queued long after it was created lost its job (Redis was down at enqueue time) and, left alone,
    would block its (connection, resource) forever through the single-flight constraint.
    """
    cutoff = timezone.now() - HEARTBEAT_TIMEOUT
    stale = Q(status=SyncRun.Status.RUNNING, heartbeat_at__lt=cutoff) | Q(
        Q(heartbeat_at__isnull=True) | Q(heartbeat_at__lt=cutoff), status=SyncRun.Status.QUEUED, created_at__lt=cutoff
    )
    resumed = 0
    for run in SyncRun.objects.filter(stale):
        updated = SyncRun.objects.filter(stale, pk=run.pk).update(
            status=SyncRun.Status.QUEUED, heartbeat_at=timezone.now()
        )
        if updated:
            jobs.enqueue_now(run_sync, run.pk, queue="sync", job_timeout=3600)
            resumed += 1
    return resumed


def sync_all(kind: str = SyncRun.Kind.INCREMENTAL, provider_key: str | None = None) -> int:
    """Periodic job: queue every resource of every active connection (of one provider, if given)."""
    started = 0
    connections = Connection.objects.filter(is_active=True)
    if provider_key:
        connections = connections.filter(provider=provider_key)
    for connection in connections:
        try:
            provider = providers.for_connection(connection)
        except providers.UnknownProvider:
            continue
        for resource in provider.sync_resources:
            _, created = start_sync(connection, resource.name, kind=kind)
            started += created
    return started
