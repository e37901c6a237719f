"""An open record page stays true: when the record changes (webhook, sync, action), its status, system panels
and action buttons refresh without a reload, not only its timeline.

The hub declares its record pages and the fields they show live (`watch(Quote, fields=("status",))`); a system
panel declares the rows it reads (`RecordPanel.sources`, e.g. Invoice Ninja's QuoteLink by its `quote` key).
Saving any of those rows marks the record changed; after commit, each changed record whose live group has
listeners is sent one small element (core/actions/live_refresh.html) that makes every open page fetch its
own version of those pieces (action_views.live_state). The buttons and panels depend on who looks, so the
server never pushes one user's HTML to another; the fetch checks the record's permission like the page does.
"""

from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models.signals import post_delete, post_save

from apps.core import live

# record model -> the fields its page shows live (read-only on the page: a live value never replaces an input)
_live_fields: dict[type[models.Model], tuple[str, ...]] = {}
# row model -> names of its foreign keys to records
_related_keys: dict[type[models.Model], tuple[str, ...]] = {}


def watch(model: type[models.Model], *, fields: tuple[str, ...] = ()) -> None:
    """`model` has a record page: its saves refresh the open pages, and `fields` are shown there live."""
    model = model._meta.concrete_model
    _live_fields[model] = tuple(fields)
    post_save.connect(_record_saved, sender=model, dispatch_uid=f"core.record_live.record.{model._meta.label_lower}")


def watch_related(model: type[models.Model], via: str) -> None:
    """Rows of `model` are shown on the page of the record their foreign key `via` points to."""
    model = model._meta.concrete_model
    if via not in _related_keys.get(model, ()):
        _related_keys[model] = (*_related_keys.get(model, ()), via)
    uid = f"core.record_live.rows.{model._meta.label_lower}"
    post_save.connect(_related_changed, sender=model, dispatch_uid=uid)
    post_delete.connect(_related_changed, sender=model, dispatch_uid=uid)


def live_fields(model) -> tuple[str, ...]:
    return _live_fields.get(model._meta.concrete_model, ())


def _record_saved(sender, instance, raw=False, **kwargs):
    if not raw:  # fixtures load rows as they are: nothing happened to show
        changed(ContentType.objects.get_for_model(sender).pk, instance.pk)


def _related_changed(sender, instance, raw=False, **kwargs):
    if raw:
        return
    for via in _related_keys.get(sender._meta.concrete_model, ()):
        field = sender._meta.get_field(via)
        record_pk = getattr(instance, field.attname)
        if record_pk is not None:
            changed(ContentType.objects.get_for_model(field.related_model).pk, record_pk)


def changed(content_type_id, object_id) -> None:
    """Refresh the open pages of this record once the current transaction commits (once per record)."""
    live.after_commit("record_pages", (int(content_type_id), str(object_id)), _push_refreshes)


def _push_refreshes(records) -> None:
    from apps.core.console import presenters  # presenters reaches actions and jobs: loaded when first needed

    for content_type_id, object_id in records:
        group = presenters.record_group(content_type_id, object_id)
        if live.has_listeners(group):
            live.push(group, "core/actions/live_refresh.html",
                      presenters.live_refresh_context(content_type_id, object_id, load=True))
