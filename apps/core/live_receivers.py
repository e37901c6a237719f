"""Push fresh fragments to the live groups when kernel rows change.

    sync.<run id>                    progress of one SyncRun (listeners need core.view_console)
    actions.<content type>.<pk>      a record's action runs and timeline (any active staff user;
                                     the views check access to the record itself)
"""

from django.db import transaction
from django.db.models.signals import post_save

from apps.core import live
from apps.core.console import presenters
from apps.core.models import ActionRun, SyncRun, TimelineEntry
from apps.core.signals import action_run_changed, sync_run_progressed


def push_sync_progress(sender, run: SyncRun, **kwargs):
    live.push(f"sync.{run.pk}", "core/live/sync_progress.html", presenters.sync_progress_context(run, oob=True))


def push_action_run(sender, run: ActionRun, **kwargs):
    context = {
        **presenters.timeline_context_for(run.content_type_id, run.object_id),
        **presenters.run_status_context(run),
    }
    # No user here: a finished run asks each page for its own buttons instead of pushing them.
    context.update(oob=True, refresh_bar=not context["is_active"])
    live.push(presenters.record_group(run.content_type_id, run.object_id), "core/live/action_run.html", context)


def push_timeline(sender, instance: TimelineEntry, created, **kwargs):
    if not created:
        return
    group = presenters.record_group(instance.content_type_id, instance.object_id)
    transaction.on_commit(lambda: live.push(
        group, "core/live/timeline.html", presenters.timeline_context_for(instance.content_type_id, instance.object_id)
    ))


def connect() -> None:
    live.register_group("sync", "core.view_console")
    live.register_group("actions", "")
    sync_run_progressed.connect(push_sync_progress, sender=SyncRun, dispatch_uid="core.live.sync_progress")
    action_run_changed.connect(push_action_run, sender=ActionRun, dispatch_uid="core.live.action_run")
    post_save.connect(push_timeline, sender=TimelineEntry, dispatch_uid="core.live.timeline")
