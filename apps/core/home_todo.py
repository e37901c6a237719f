"""The home page's to-do: what waits for a person, shown before the system cards.

Each source answers for one user: None when there is nothing, or the user may not see the list it counts;
else a count, a link to the list filtered on those rows, and the first rows. The kernel registers failed
actions and failed webhooks; other apps register theirs at start-up (the hub: overdue invoices), so the
kernel imports none of them. Payments waiting for approval have their own block above (presenters).
"""

from collections.abc import Callable
from dataclasses import dataclass, field

from django.core.exceptions import ObjectDoesNotExist
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from apps.core.console import presenters
from apps.core.home import feed_row  # the webhook feed's row: system and event as people read them
from apps.core.models import ActionRun, WebhookEvent

ROWS_SHOWN = 5


@dataclass
class ToDo:
    anchor: str  # the block's id on the page ("a-faire-factures")
    summary: str  # "3 factures en retard", the link to the filtered list
    list_url: str
    row_template: str
    rows: list = field(default_factory=list)


_sources: list[Callable[[object], ToDo | None]] = []


def register(source: Callable[[object], ToDo | None]):
    if source not in _sources:
        _sources.append(source)
    return source


def for_user(user) -> list[ToDo]:
    if user is None or not (user.is_authenticated and user.is_active and user.is_staff):
        return []
    return [item for item in (source(user) for source in _sources) if item is not None]


def _filtered_list(model, **filters) -> str:
    opts = model._meta
    query = "&".join(f"{name}={value}" for name, value in filters.items())
    return f"{reverse(f'admin:{opts.app_label}_{opts.model_name}_changelist')}?{query}"


def _record_label(run: ActionRun) -> tuple[str, str | None]:
    try:
        obj = run.content_type.get_object_for_this_type(pk=run.object_id)
    except ObjectDoesNotExist:
        return _("%(kind)s n° %(id)s") % {"kind": run.content_type.name, "id": run.object_id}, None
    return str(obj), obj.get_absolute_url() if hasattr(obj, "get_absolute_url") else None


@register
def failed_actions(user) -> ToDo | None:
    if not user.has_perm("core.view_actionrun"):
        return None
    failed = ActionRun.objects.filter(status=ActionRun.Status.FAILED)
    count = failed.count()
    if not count:
        return None
    rows = []
    for run in failed.select_related("content_type", "user").order_by("-created_at", "-id")[:ROWS_SHOWN]:
        label, url = _record_label(run)
        rows.append({"run": run, "obj": label, "url": url, "status": presenters.run_status_context(run, user)})
    return ToDo(
        anchor="a-faire-actions",
        summary=ngettext("%(count)s action en échec", "%(count)s actions en échec", count) % {"count": count},
        list_url=_filtered_list(ActionRun, status__exact=ActionRun.Status.FAILED),
        row_template="core/home/to_do_actions.html",
        rows=rows,
    )


@register
def failed_webhooks(user) -> ToDo | None:
    if not user.has_perm("core.view_webhookevent"):
        return None
    failed = WebhookEvent.objects.filter(status=WebhookEvent.Status.FAILED)
    count = failed.count()
    if not count:
        return None
    latest = (failed.select_related("connection").defer("body", "headers", "traceback")
              .order_by("-received_at", "-id")[:ROWS_SHOWN])
    return ToDo(
        anchor="a-faire-webhooks",
        summary=ngettext("%(count)s webhook en échec", "%(count)s webhooks en échec", count) % {"count": count},
        list_url=_filtered_list(WebhookEvent, status__exact=WebhookEvent.Status.FAILED),
        row_template="core/home/to_do_webhooks.html",
        rows=[feed_row(event) for event in latest],
    )
