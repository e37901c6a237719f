"""Directus -> console: what an item read back from Directus does to the hub (the written conflict rule).

For one item of a mirror collection, in this order:

1. Not one of the console's ids (an item a person created in Directus): left alone.
2. One of the console's ids whose hub record no longer exists: deleted from Directus again.
3. Its values still hash to its `console_version`: the console's own write coming back — ignored (no loop).
4. Otherwise someone edited it in Directus. Each field that differs from what the console last wrote
   (`MirroredItem.payload`, or the hub's values if it was never pushed) is:
   - applied to the hub when the field is Directus's (`schema.Field.directus_owned`), its value is valid,
     the transition is allowed (`STATUS_RULES`) and the console did not change that field since its last
     write (if it did, the console's value wins);
   - refused otherwise.
   The hub record is saved with the applied fields (its post_save signals carry the change on to the other
   systems, as any hub edit would), and the item is written back from the hub with a note naming what was
   refused, so console-owned fields are restored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from apps.core.models import Connection, TimelineEntry
from apps.directus import outbox, records, schema
from apps.directus.models import MirroredItem, OutboxEntry
from apps.hub.models import Quote

PROVIDER = "directus"
# (collection, field) -> allowed (value the console wrote, value Directus may set) transitions.
STATUS_RULES = {
    ("quotes", "status"): {(Quote.Status.SENT, Quote.Status.ACCEPTED)},
}
MAX_LENGTHS = {"phone": 40}
# A Directus that rewrites a value in a way normalise() does not know would refuse every restore: after this
# many restores of one item within the window, the console stops writing it back and says so.
RESTORE_LIMIT = 5
RESTORE_WINDOW = timedelta(minutes=10)


@dataclass
class Outcome:
    kind: str  # ignored, echo, unchanged, applied, refused, restored, deleted
    applied: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)

    def __str__(self):
        return self.kind


def reconcile_item(connection: Connection, collection_key: str, item: dict, *, webhook_event=None) -> Outcome:
    collection = schema.COLLECTIONS[collection_key]
    item_id = str(item.get(schema.PRIMARY_KEY) or "")
    if not records.is_console_id(collection_key, item_id):
        return Outcome("ignored")
    obj = records.find(collection_key, item_id)
    if obj is None:
        outbox.add(connection, collection_key, item_id=item_id, operation=OutboxEntry.Operation.DELETE,
                   reason=OutboxEntry.Reason.RESTORE)
        return Outcome("deleted")
    if schema.is_echo(collection, item):
        return Outcome("echo")

    mirrored = MirroredItem.objects.filter(connection=connection, collection=collection_key, item_id=item_id).first()
    current = schema.normalised(collection, records.serialize(collection_key, obj))
    baseline = schema.normalised(collection, mirrored.payload) if mirrored and mirrored.payload else current
    remote = schema.normalised(collection, item)
    changed = [name for name in collection.field_names if remote[name] != baseline[name]]
    if not changed:
        # Same values as written, but a stale or edited version mark: write the item back as the console has it.
        _restore(connection, collection_key, obj, mirrored, note=None)
        return Outcome("restored")

    outcome = Outcome("applied")
    updates = {}
    for name in changed:
        reason = _refusal(collection_key, collection.field(name), obj, baseline[name], remote[name], current[name])
        if reason:
            outcome.refused.append(f"{name} ({reason})")
        else:
            updates[name] = remote[name]
            outcome.applied.append(name)
    if updates:
        _apply(obj, collection_key, updates, webhook_event)
    note = None
    if outcome.refused:
        outcome.kind = "refused" if not updates else "applied"
        stamp = timezone.localtime().strftime("%d/%m/%Y %H:%M")
        note = _("Modification refusée le %(date)s : %(fields)s. Valeurs de la console rétablies.") % {
            "date": stamp, "fields": ", ".join(outcome.refused)}
        # The note written back to Directus is dated; the timeline entry has its own time.
        TimelineEntry.record(obj, gettext_noop("Directus : modification refusée (%(fields)s). Valeurs de la console "
                                               "rétablies."), params={"fields": ", ".join(outcome.refused)},
                             provider=PROVIDER, level=TimelineEntry.Level.WARNING, external_ids={"directus": item_id},
                             webhook_event=webhook_event)
    _restore(connection, collection_key, obj, mirrored, note=note)
    return outcome


def _refusal(collection_key, spec: schema.Field, obj, written, wanted, current) -> str | None:
    """Why a Directus change to one field is refused, or None when it is applied."""
    if not spec.directus_owned:
        return _("champ géré par la console")
    if current != written:
        return _("modifié aussi dans la console, sa valeur est conservée")
    rule = STATUS_RULES.get((collection_key, spec.name))
    if rule is not None and (written, wanted) not in rule:
        return _("changement de statut non autorisé depuis Directus")
    if spec.name == "email" and wanted:
        try:
            validate_email(wanted)
        except ValidationError:
            return _("adresse e-mail invalide")
    if spec.name in MAX_LENGTHS and len(wanted or "") > MAX_LENGTHS[spec.name]:
        return _("valeur trop longue")
    return None


def _apply(obj, collection_key, updates: dict, webhook_event) -> None:
    for name, value in updates.items():
        setattr(obj, name, value if value is not None else "")
    fields = list(updates)
    if hasattr(obj, "updated_at"):
        fields.append("updated_at")
    obj.save(update_fields=fields)  # hub signals: the other systems follow as for any hub edit
    if collection_key == "quotes" and updates.get("status") == Quote.Status.ACCEPTED:
        message, params = gettext_noop("Devis marqué accepté dans Directus."), {}
    else:
        message, params = gettext_noop("Modifié dans Directus : %(fields)s."), {
            "fields": ", ".join(f"{name} = {value}" for name, value in updates.items())}
    TimelineEntry.record(obj, message, params=params, provider=PROVIDER, level=TimelineEntry.Level.INFO,
                         webhook_event=webhook_event)


def _restore(connection, collection_key, obj, mirrored: MirroredItem | None, *, note: str | None) -> None:
    recent = OutboxEntry.objects.filter(
        connection=connection, collection=collection_key, item_id=records.stable_id(obj),
        reason=OutboxEntry.Reason.RESTORE, created_at__gte=timezone.now() - RESTORE_WINDOW,
    ).count()
    if recent >= RESTORE_LIMIT:
        TimelineEntry.record(obj, gettext_noop("Directus : l'élément %(item)s revient sans cesse différent de ce que "
                                               "la console écrit ; rétablissement suspendu, vérifiez le type du champ "
                                               "dans Directus."),
                             params={"item": records.stable_id(obj)}, provider=PROVIDER,
                             level=TimelineEntry.Level.ERROR)
        return
    if note is not None:
        MirroredItem.objects.update_or_create(
            connection=connection, collection=collection_key, item_id=records.stable_id(obj),
            defaults={"note": note},
        )
    outbox.add(connection, collection_key, obj, reason=OutboxEntry.Reason.RESTORE)


def restore_deleted(connection: Connection, collection_key: str, item_id: str, *, webhook_event=None) -> Outcome:
    """An item deleted in Directus: the console owns the mirror's existence, so it is written again."""
    obj = records.find(collection_key, item_id)
    if obj is None:
        return Outcome("ignored")
    note = _("Élément supprimé dans Directus le %(date)s : rétabli par la console.") % {
        "date": timezone.localtime().strftime("%d/%m/%Y %H:%M")}
    TimelineEntry.record(obj, gettext_noop("Directus : élément supprimé dans Directus, rétabli par la console."),
                         params={}, provider=PROVIDER, level=TimelineEntry.Level.WARNING, webhook_event=webhook_event)
    _restore(connection, collection_key, obj, None, note=note)
    return Outcome("restored")
