"""Who changed what on a record, before and after, read from its django-simple-history rows for its timeline.

A model is tracked by giving it `history = HistoricalRecords(...)`; its app then says here which of its
fields are amounts (shown in the record's currency) and which child records (a document's lines) belong
on the parent's timeline. Nothing is stored in words: each entry is written out when it is read, in the
reader's language, with the fields' verbose names and the console's number format.

What is recorded: every `save()` and `delete()` of a tracked record, in the same transaction, with the
request's user. `QuerySet.update()`, `bulk_create()` and `bulk_update()` are not recorded (no signal): the
sync engine's bulk writes (its ExternalRecord mirrors, a vendor's copy of a document's lines) keep their
cost, and what they change on a hub record shows through the record's own later saves and timeline entries.
"""

from contextlib import contextmanager
from dataclasses import dataclass
from types import SimpleNamespace

from django.db import models
from django.utils.formats import date_format
from django.utils.timezone import localtime
from django.utils.translation import gettext as _

from simple_history.models import HistoricalRecords

from apps.core.numbers import format_money, format_number


@dataclass(frozen=True)
class Tracked:
    money_fields: tuple[str, ...] = ()
    # Stamps a person does not look for (the order of a line, a flag the timeline already tells).
    hidden_fields: tuple[str, ...] = ()
    # (child model, name of its foreign key to this model): their changes show on this record's timeline.
    children: tuple[tuple[type, str], ...] = ()
    currency_field: str = "currency"


_tracked: dict[type, Tracked] = {}

HISTORY_LIMIT = 50


def track(model, **options) -> None:
    _tracked[model._meta.concrete_model] = Tracked(**options)


@contextmanager
def changes_by(user):
    """Saves made inside (an action run by a worker, outside any request) are recorded as this user's."""
    context = HistoricalRecords.context
    previous = getattr(context, "request", None)
    context.request = SimpleNamespace(user=user)
    try:
        yield
    finally:
        if previous is not None:
            context.request = previous
        elif hasattr(context, "request"):
            # A request served in-process meanwhile (a sandbox called through the test client) may have
            # cleared it already: simple_history's middleware deletes it at the end of every request.
            del context.request


def _options(model) -> Tracked:
    return _tracked.get(model._meta.concrete_model, Tracked())


def is_tracked(model) -> bool:
    return model is not None and hasattr(model._meta, "simple_history_manager_attribute")


def _history(model):
    return getattr(model, model._meta.simple_history_manager_attribute)


def _user_name(user) -> str:
    if user is None:
        return ""
    return user.get_full_name() or user.get_username()


def _display(model, field_name, value, currency) -> str:
    if value in (None, ""):
        return "—"
    model_field = model._meta.get_field(field_name)
    if model_field.choices:
        return str(dict(model_field.flatchoices).get(value, value))
    if model_field.is_relation:
        related = model_field.related_model._default_manager.filter(pk=value).first()
        return str(related) if related is not None else _("n° %(pk)s (supprimé)") % {"pk": value}
    if isinstance(value, bool):
        return _("oui") if value else _("non")
    if field_name in _options(model).money_fields:
        return format_money(value, currency)
    if isinstance(model_field, models.DecimalField):
        return format_number(value, min(model_field.decimal_places, 2))
    if isinstance(model_field, models.DateTimeField):
        return date_format(localtime(value), "SHORT_DATETIME_FORMAT")
    if isinstance(model_field, models.DateField):
        return date_format(value, "SHORT_DATE_FORMAT")
    return str(value)


def _label(model, field_name) -> str:
    name = str(model._meta.get_field(field_name).verbose_name)
    return name[:1].upper() + name[1:]


def _changes(model, row, previous, currency) -> list[str]:
    """One line per changed field: "Montant TTC : 1 200,40 € → 1 300,00 €"."""
    hidden = _options(model).hidden_fields
    lines = []
    for change in row.diff_against(previous).changes:
        if change.field in hidden:
            continue
        lines.append(_("%(field)s : %(before)s → %(after)s") % {
            "field": _label(model, change.field),
            "before": _display(model, change.field, change.old, currency),
            "after": _display(model, change.field, change.new, currency),
        })
    return lines


def _currency(model, row, fallback="EUR"):
    return getattr(row, _options(model).currency_field, None) or fallback


def _paired(rows):
    """(row, the same record's previous row or None) for rows read newest first, one record or several."""
    by_record: dict = {}
    for row in rows:
        by_record.setdefault(row.id, []).append(row)
    for versions in by_record.values():
        for index, row in enumerate(versions):
            previous = versions[index + 1] if index + 1 < len(versions) else None
            if previous is None and row.history_type == "~":
                previous = row.prev_record  # older than what was read: one more query, rare
            yield row, previous


def _record_item(model, row, previous) -> dict | None:
    who = _user_name(row.history_user)
    if row.history_type == "+":
        what, changes, outcome = (_("Fiche créée par %(user)s") % {"user": who} if who else _("Fiche créée"),
                                  [], _("Création"))
    elif row.history_type == "~":
        changes = _changes(model, row, previous, _currency(model, row)) if previous is not None else []
        if not changes:
            return None  # saved without a visible change (a stamp, a recalculation giving the same totals)
        what = _("Fiche modifiée par %(user)s") % {"user": who} if who else _("Fiche modifiée")
        outcome = _("Modification")
    else:
        return None  # the record is gone, and its page with it
    return _item(row, who, what, changes, outcome)


def _child_item(model, row, previous, currency) -> dict | None:
    who = _user_name(row.history_user)
    name = str(model._meta.verbose_name)
    subject = _("%(what)s « %(name)s »") % {"what": name[:1].upper() + name[1:], "name": row.instance}
    changes = []
    if row.history_type == "+":
        what = _("%(subject)s ajoutée par %(user)s") if who else _("%(subject)s ajoutée")
        outcome = _("Ajout")
    elif row.history_type == "-":
        what = _("%(subject)s supprimée par %(user)s") if who else _("%(subject)s supprimée")
        outcome = _("Suppression")
    else:
        changes = _changes(model, row, previous, currency) if previous is not None else []
        if not changes:
            return None
        what = _("%(subject)s modifiée par %(user)s") if who else _("%(subject)s modifiée")
        outcome = _("Modification")
    return _item(row, who, what % {"subject": subject, "user": who}, changes, outcome)


def _item(row, who, what, changes, outcome) -> dict:
    return {"when": row.history_date, "who": who, "what": what, "message": "", "changes": changes,
            "outcome": outcome, "level": "info", "external_ids": {}}


def history_items(model, object_id, limit=HISTORY_LIMIT) -> list[dict]:
    """The record's own changes and its children's, newest first, as timeline items."""
    if not is_tracked(model):
        return []
    rows = list(_history(model).filter(id=object_id).select_related("history_user")[:limit])
    items = [_record_item(model, row, previous) for row, previous in _paired(rows)]
    currency = _currency(model, rows[0]) if rows else "EUR"
    for child, foreign_key in _options(model).children:
        child_rows = list(_history(child).filter(**{f"{foreign_key}_id": object_id})
                          .select_related("history_user")[:limit])
        items += [_child_item(child, row, previous, currency) for row, previous in _paired(child_rows)]
    items = [item for item in items if item is not None]
    items.sort(key=lambda item: item["when"], reverse=True)
    return items[:limit]
