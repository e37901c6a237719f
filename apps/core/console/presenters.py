"""Template contexts shared by the console views, the template tags and the live receivers.

A pushed fragment has no request: anything that depends on who looks (approve button, CSRF token)
is only rendered when a user is given, and pushed fragments ask the server for their per-user version.
"""

import uuid

from django.contrib import admin
from django.contrib.admin.utils import display_for_field
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ObjectDoesNotExist
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from apps.core import actions, jobs, providers, record_history, record_live
from apps.core import record_panels as panels_registry
from apps.core.models import ActionRun, SyncRun, TimelineEntry

TIMELINE_LIMIT = 50


def new_idempotency_key() -> str:
    return uuid.uuid4().hex


def record_key(obj) -> str:
    """`<content type id>-<pk>`: the suffix of every element id of a record's action pieces."""
    return f"{ContentType.objects.get_for_model(obj).pk}-{obj.pk}"


def record_group(content_type_id, object_id) -> str:
    return f"actions.{content_type_id}.{object_id}".lower()


def group_for(obj) -> str:
    return record_group(ContentType.objects.get_for_model(obj).pk, obj.pk)


def _target_kwargs(obj) -> dict:
    return {"content_type_id": ContentType.objects.get_for_model(obj).pk, "object_id": str(obj.pk)}


OPEN_RUNS_SHOWN = 5


def action_bar_context(obj, request) -> dict:
    items = []
    declared = actions.for_object(obj, request.user)
    for action, reason in declared:
        if not actions.user_may_run(action, request.user):
            continue  # an action the user may never run is not shown at all, not even disabled
        kwargs = {"key": action.key, **_target_kwargs(obj)}
        items.append({
            "action": action,
            "reason": reason,
            "idempotency_key": new_idempotency_key(),
            "start_url": reverse("core:action_start", kwargs=kwargs),
            "confirm_url": reverse("core:action_confirm", kwargs=kwargs),
        })
    return {
        "obj": obj,
        "items": items,
        "declared_actions": len(declared),
        "record_key": record_key(obj),
        "live_group": group_for(obj),
        "bar_url": reverse("core:action_bar", kwargs=_target_kwargs(obj)),
        "next": request.get_full_path() if not request.htmx else request.headers.get("HX-Current-URL", ""),
        # Runs still in flight (or waiting for an approver) show under the buttons for whoever opens the record.
        "open_runs": [run_status_context(run, request.user) for run in open_runs(obj)],
        "live_refresh": live_refresh_context(ContentType.objects.get_for_model(obj).pk, obj.pk),
    }


def live_refresh_context(content_type_id, object_id, *, load=False) -> dict:
    """The element a record page refreshes its live pieces with (core/actions/live_refresh.html)."""
    return {
        "record_key": f"{content_type_id}-{object_id}",
        "refresh_url": reverse("core:record_live_state",
                               kwargs={"content_type_id": content_type_id, "object_id": object_id}),
        "load": load,
    }


def record_panels(obj, request, *, include_self_updating=True) -> list[dict]:
    """Each panel system apps registered for the record: its place on the page and its rendered body (None when
    its context hides it; the place stays, so a panel that appears later has somewhere to go)."""
    panels = []
    for number, panel in enumerate(panels_registry.for_model(type(obj)), start=1):
        if panel.updates_itself and not include_self_updating:
            continue
        panel_context = panel.context(obj, request.user)
        body = None if panel_context is None else render_to_string(panel.template, panel_context, request=request)
        panels.append({"number": number, "panel": panel, "body": body})
    return panels


def live_fields(obj) -> list[tuple[str, str]]:
    """(field name, text) of the fields the record's page shows live, as the admin shows a read-only field."""
    empty = admin.site.empty_value_display  # what the change form shows for an empty read-only field
    return [(name, display_for_field(getattr(obj, name), obj._meta.get_field(name), empty))
            for name in record_live.live_fields(type(obj))]


def live_state_context(obj, request, *, resumed=False) -> dict:
    """Everything a record page refreshes live, for the user asking: fields, panels and buttons. A page back
    from a dropped socket (`resumed`) also gets what is pushed on its own: the timeline, self-updating panels."""
    return {
        **action_bar_context(obj, request),
        "oob": True,
        "timeline": timeline_context(obj) if resumed else None,
        "form_id": f"{obj._meta.model_name}_form",
        "live_fields": live_fields(obj),
        "panels": record_panels(obj, request, include_self_updating=resumed),
    }


def open_runs(obj) -> list[ActionRun]:
    in_flight = (ActionRun.Status.RUNNING, ActionRun.Status.PENDING_APPROVAL)
    return list(actions.runs_for(obj).filter(status__in=in_flight)[:OPEN_RUNS_SHOWN])


def can_approve(run: ActionRun, user) -> bool:
    if user is None or run.status != ActionRun.Status.PENDING_APPROVAL or run.user_id == user.pk:
        return False
    try:
        permission = actions.get(run.action).approval_permission
    except KeyError:
        return False
    return bool(permission and user.is_active and user.is_staff and user.has_perm(permission))


def can_relaunch(run: ActionRun, user) -> bool:
    if user is None or run.status != ActionRun.Status.FAILED:
        return False
    try:
        return actions.user_may_run(actions.get(run.action), user)
    except KeyError:
        return False


def run_state(run: ActionRun) -> tuple[str, str | None]:
    """What the run is doing, as shown, and (while it waits or stalls) why: "En file d'attente" until a worker
    takes it, with the reason from Redis (unreachable, no worker, job lost, worker died, jobs ahead)."""
    if run.status != ActionRun.Status.RUNNING:
        return run.get_status_display(), None
    waiting_reason = jobs.why_waiting(actions.job_id_for(run.pk), queue="default")
    if run.started_at is None:
        return _("En file d'attente"), waiting_reason
    return run.get_status_display(), waiting_reason


def approval_summary(run: ActionRun) -> list[tuple[str, str]]:
    """What is being approved, read from the record as it is now (empty once the run no longer waits)."""
    if run.status != ActionRun.Status.PENDING_APPROVAL:
        return []
    try:
        action = actions.get(run.action)
        obj = run.content_type.get_object_for_this_type(pk=run.object_id)
    except (KeyError, ObjectDoesNotExist):
        return []
    return action.approval_summary(obj)


def approvals_waiting(user) -> list[dict]:
    """The approver's to-do: each held run with its record, requester and summary."""
    rows = []
    for run in actions.waiting_for(user):
        try:
            obj = run.content_type.get_object_for_this_type(pk=run.object_id)
        except ObjectDoesNotExist:
            continue
        url = obj.get_absolute_url() if hasattr(obj, "get_absolute_url") else reverse("core:action_run", args=[run.pk])
        rows.append({"run": run, "obj": obj, "url": url, "status": run_status_context(run, user)})
    return rows


def run_status_context(run: ActionRun, user=None) -> dict:
    state_label, waiting_reason = run_state(run)
    return {
        "run": run,
        "state_label": state_label,
        "waiting_reason": waiting_reason,
        "summary": approval_summary(run),
        "refuse_url": reverse("core:action_refuse", args=[run.pk]),
        "user_is_requester": user is not None and run.user_id == user.pk,
        "is_active": run.status in (ActionRun.Status.RUNNING, ActionRun.Status.PENDING_APPROVAL),
        "can_approve": can_approve(run, user),
        "can_relaunch": can_relaunch(run, user),
        "status_url": reverse("core:action_run", args=[run.pk]),
        "approve_url": reverse("core:action_approve", args=[run.pk]),
        "relaunch_url": reverse("core:action_relaunch", args=[run.pk]),
        "record_key": f"{run.content_type_id}-{run.object_id}",
        "live_group": record_group(run.content_type_id, run.object_id),
        "bar_url": reverse(
            "core:action_bar", kwargs={"content_type_id": run.content_type_id, "object_id": run.object_id}
        ),
    }


# What an external id is, in words: "<provider>_<entity>_id" reads "<Provider label> · <entity>".
ENTITY_LABELS = {
    "quote": _("devis"), "invoice": _("facture"), "client": _("client"), "payment": _("paiement"),
    "contact": _("contact"), "counterparty": _("bénéficiaire"), "transaction": _("transaction"),
}
ID_LABELS = {"request_id": _("demande"), "transaction_id": _("transaction")}
# Why a run without a user ran (set by whatever started it): shown beside "Automatique", not as an identifier.
CAUSE_KEYS = ("cause", "cause_event")


def readable_ids(external_ids: dict) -> list[tuple[str, str]]:
    """The identifiers a person may look up elsewhere, labelled in French; internal flags and keys left out
    (a boolean is a progress flag, "*_pk" a console row the page already links, approver names are in the message)."""
    rows = []
    for key, value in (external_ids or {}).items():
        if (isinstance(value, bool) or value in (None, "") or key.endswith("_pk") or key.endswith("_by")
                or key in CAUSE_KEYS):
            continue
        label = ID_LABELS.get(key)
        if label is None and key.endswith("_id"):
            provider_key, _sep, entity = key[:-3].partition("_")
            try:
                provider_label = providers.get(provider_key).label
            except providers.UnknownProvider:
                provider_label = None
            if provider_label:
                label = f"{provider_label} · {ENTITY_LABELS.get(entity, entity)}" if entity else provider_label
        rows.append((str(label or key), str(value)))
    return rows


def webhook_event_url(event_id) -> str:
    try:
        return reverse("admin:core_webhookevent_change", args=[int(event_id)]) if event_id else ""
    except (TypeError, ValueError):
        return ""


def run_actor(run: ActionRun) -> dict:
    """Who ran it: the user, or "Automatique" with its cause (external_ids "cause", "cause_event") for a run
    nobody clicked. A user deleted since (user set to NULL) is no automation: "—"."""
    if run.user_id:
        return {"who": run.user.get_username(), "cause": "", "cause_url": ""}
    cause = (run.external_ids or {}).get("cause") or ""
    if not cause:
        return {"who": "", "cause": "", "cause_url": ""}
    return {"who": _("Automatique"), "cause": cause,
            "cause_url": webhook_event_url((run.external_ids or {}).get("cause_event"))}


def entry_actor(entry: TimelineEntry) -> dict:
    if entry.provider != TimelineEntry.AUTOMATIC:
        return {"who": _provider_label(entry.provider), "cause": "", "cause_url": ""}
    cause = (entry.external_ids or {}).get("cause") or ""
    return {"who": _("Automatique"), "cause": cause, "cause_url": webhook_event_url(entry.webhook_event_id)}


def timeline_items(content_type_id, object_id) -> list[dict]:
    runs = (
        ActionRun.objects.filter(content_type_id=content_type_id, object_id=str(object_id))
        .select_related("user")[:TIMELINE_LIMIT]
    )
    entries = TimelineEntry.objects.filter(content_type_id=content_type_id, object_id=str(object_id))[
        :TIMELINE_LIMIT
    ]
    items = [
        {
            "when": run.created_at,
            **run_actor(run),
            "what": run.label,
            "message": run.message,
            "outcome": run.get_status_display(),
            "level": {"succeeded": "success", "failed": "error", "refused": "warning"}.get(run.status, "info"),
            "external_ids": run.external_ids,
        }
        for run in runs
    ] + [
        {
            "when": entry.created_at,
            **entry_actor(entry),
            "what": entry.text,
            "message": "",
            "outcome": entry.get_level_display(),
            "level": entry.level,
            "external_ids": entry.external_ids,
        }
        for entry in entries
    ] + record_history.history_items(ContentType.objects.get_for_id(content_type_id).model_class(), object_id)
    items.sort(key=lambda item: item["when"], reverse=True)
    return items[:TIMELINE_LIMIT]


def _provider_label(key: str) -> str:
    try:
        return providers.get(key).label if key else ""
    except providers.UnknownProvider:
        return key


def timeline_context(obj, *, connect=False) -> dict:
    content_type_id = ContentType.objects.get_for_model(obj).pk
    return timeline_context_for(content_type_id, obj.pk, connect=connect)


def timeline_context_for(content_type_id, object_id, *, connect=False, oob=False) -> dict:
    return {
        "items": timeline_items(content_type_id, object_id),
        "record_key": f"{content_type_id}-{object_id}",
        "live_group": record_group(content_type_id, object_id),
        "connect": connect,
        "oob": oob,
    }


def sync_progress_context(run: SyncRun, *, oob=False) -> dict:
    return {
        "run": run,
        "oob": oob,
        "fragment_url": reverse("core:sync_progress_fragment", args=[run.pk]),
        "counts": [
            (SyncRun._meta.get_field(name).verbose_name, getattr(run, name))
            for name in ("pages", "added", "updated", "unchanged", "deleted", "failed")
        ],
    }
