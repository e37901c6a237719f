"""Push fresh fragments to the live groups when kernel rows change.

    sync.<run id>                    progress of one SyncRun (listeners need core.view_console)
    actions.<content type>.<pk>      a record's action runs and timeline (whoever may open the record's
                                     page: apps.core.console.access.may_view_record)
"""

from django.db.models.signals import post_save

from apps.core import live
from apps.core.console import presenters
from apps.core.console.access import may_view_records_of_type
from apps.core.models import ActionRun, SyncRun, TimelineEntry
from apps.core.signals import action_run_changed, created_in_bulk, sync_run_progressed


def push_sync_progress(sender, run: SyncRun, **kwargs):
    live.push(f"sync.{run.pk}", "core/live/sync_progress.html", presenters.sync_progress_context(run, oob=True))


def push_action_run(sender, run: ActionRun, **kwargs):
    shown = presenters.open_runs(run.target) if run.target is not None else []
    if run not in shown:
        shown.insert(0, run)  # a run that just finished is shown once, with its outcome
    context = {
        **presenters.timeline_context_for(run.content_type_id, run.object_id),
        "record_key": f"{run.content_type_id}-{run.object_id}",
        # No user here: runs waiting for approval fetch each page's own version (approve button or not).
        "open_runs": [dict(presenters.run_status_context(r), personalise=True) for r in shown],
        "bar_url": presenters.run_status_context(run)["bar_url"],
        "refresh_bar": run.status not in (ActionRun.Status.RUNNING, ActionRun.Status.PENDING_APPROVAL),
    }
    live.push(presenters.record_group(run.content_type_id, run.object_id), "core/live/action_run.html", context)


def push_timeline(sender, instance: TimelineEntry, created, **kwargs):
    """After commit, each record whose timeline grew is rendered and pushed once, and only if a page listens.

    A sync writing thousands of entries in a transaction used to render and push a timeline per entry,
    for pages nobody had open; the records are now collected per transaction and flushed together.
    """
    if created:
        _remember_timelines([instance])


def push_timelines_created_in_bulk(sender, instances, **kwargs):
    _remember_timelines(instances)


def _remember_timelines(entries):
    for entry in entries:
        live.after_commit("timelines", (entry.content_type_id, entry.object_id), _flush_timelines)


def _flush_timelines(records):
    for content_type_id, object_id in records:
        group = presenters.record_group(content_type_id, object_id)
        if live.has_listeners(group):
            live.push_in_each_language(group, "core/live/timeline.html",
                                       lambda ct=content_type_id, pk=object_id: presenters.timeline_context_for(ct, pk))


def may_listen_to_record(user, group: str) -> bool:
    """`actions.<content type id>.<pk>`: the record's page rule, for the record's type."""
    parts = group.split(".")
    return len(parts) == 3 and parts[1].isdigit() and may_view_records_of_type(user, parts[1])


def connect() -> None:
    live.register_group("sync", "core.view_console")
    live.register_group("actions", may_listen_to_record)
    sync_run_progressed.connect(push_sync_progress, sender=SyncRun, dispatch_uid="core.live.sync_progress")
    action_run_changed.connect(push_action_run, sender=ActionRun, dispatch_uid="core.live.action_run")
    post_save.connect(push_timeline, sender=TimelineEntry, dispatch_uid="core.live.timeline")
    created_in_bulk.connect(push_timelines_created_in_bulk, sender=TimelineEntry, dispatch_uid="core.live.timelines")
