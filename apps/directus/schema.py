"""The mirror's schema: which collections and fields the console keeps in Directus, and who owns each field.

This module is the written conflict rule. Every mirrored field is owned by the console unless it is
listed as `directus_owned`: a change made in Directus to a console-owned field is refused and overwritten
back with a note; a change to a Directus-owned field is applied to the hub (see reconcile.py). Values are
compared through `normalise()`, so Directus's own spelling of a value (a decimal read back as "12.5", a
timestamp with milliseconds) is never mistaken for an edit.

Every item also carries `console_version`, a hash of its mirrored values as the console last wrote them:
an item whose values still hash to its `console_version` is the console's own write coming back (a loop),
and is ignored.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation

PRIMARY_KEY = "id"
VERSION_FIELD = "console_version"
NOTE_FIELD = "console_note"
UPDATED_FIELD = "date_updated"
# Fields of every mirror collection that are bookkeeping, not mirrored data.
SYSTEM_FIELDS = (PRIMARY_KEY, VERSION_FIELD, NOTE_FIELD, UPDATED_FIELD)
DEFAULT_PREFIX = "console_"


@dataclass(frozen=True)
class Field:
    name: str
    type: str  # Directus field types: string, text, boolean, integer, decimal, date, timestamp
    directus_owned: bool = False
    note: str = ""


@dataclass(frozen=True)
class Collection:
    key: str  # the console's name; the Directus collection is `<prefix><key>`
    label: str
    fields: tuple[Field, ...]
    note: str = ""

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(field.name for field in self.fields)

    def field(self, name: str) -> Field:
        return next(field for field in self.fields if field.name == name)


def text(name, **kwargs) -> Field:
    return Field(name, "string", **kwargs)


COLLECTIONS: dict[str, Collection] = {
    collection.key: collection
    for collection in (
        Collection("companies", "Sociétés", (
            text("name"), Field("is_client", "boolean"), Field("is_supplier", "boolean"),
            text("email", directus_owned=True), text("phone", directus_owned=True),
            text("vat_number"), text("address1"), text("postal_code"), text("city"), text("country_code"), text("currency"),
        )),
        Collection("contacts", "Contacts", (
            text("company"), text("first_name"), text("last_name"),
            text("email", directus_owned=True), text("phone", directus_owned=True), Field("is_primary", "boolean"),
        )),
        Collection("quotes", "Devis", (
            text("company"), text("number"), text("title"),
            # Only one transition is Directus's: a sent quote marked accepted by hand (reconcile.STATUS_RULES).
            text("status", directus_owned=True, note="envoyé -> accepté seulement"),
            Field("subtotal", "decimal"), Field("total", "decimal"), text("currency"),
            Field("issue_date", "date"), Field("valid_until", "date"),
        )),
        Collection("invoices", "Factures", (
            text("company"), text("quote"), text("number"), text("title"), text("status"),
            Field("total", "decimal"), Field("amount_paid", "decimal"), Field("balance_due", "decimal"),
            text("currency"), Field("issue_date", "date"), Field("due_date", "date"),
        )),
        Collection("payments", "Paiements", (
            text("direction"), text("invoice"), text("supplier_bill"), Field("amount", "decimal"), text("currency"),
            Field("date", "date"), text("source"),
        )),
        Collection("supplier_bills", "Factures fournisseurs", (
            text("supplier"), text("reference"), text("description"), Field("amount", "decimal"), text("currency"),
            text("status"), Field("issue_date", "date"), Field("due_date", "date"), Field("paid_at", "timestamp"),
        )),
        Collection("integration_status", "Statuts d'intégration", (
            text("record_type"), text("record"), text("number"), text("company"),
            text("stage"), text("payment_state"), text("signature_state"), Field("reminder_level", "integer"),
            Field("amount_due", "decimal"), text("currency"),
        ), note="Statuts calculés par la console : devis envoyé / signé / facturé / payé, relances, paiement."),
    )
}


def collection_name(connection, key: str) -> str:
    prefix = (connection.config or {}).get("collection_prefix", DEFAULT_PREFIX)
    return f"{prefix}{key}"


def collection_key(connection, name: str) -> str | None:
    """The console's key of a Directus collection name, or None when it is not a mirror collection."""
    for key in COLLECTIONS:
        if collection_name(connection, key) == name:
            return key
    return None


# Values ---------------------------------------------------------------------------------------------

def normalise(field_type: str, value):
    """One spelling per value, whatever side wrote it: the basis of every comparison and of the version."""
    if value is None or value == "":
        return None if field_type not in ("string", "text") else ""
    if field_type in ("string", "text"):
        return str(value)
    if field_type == "boolean":
        return value if isinstance(value, bool) else str(value).lower() in ("1", "true")
    if field_type == "integer":
        try:
            return int(value)
        except (TypeError, ValueError):
            return str(value)
    if field_type == "decimal":
        try:
            return str(Decimal(str(value)).quantize(Decimal("0.01")))
        except (InvalidOperation, ValueError):
            return str(value)
    if field_type == "date":
        return str(value)[:10]
    if field_type == "timestamp":
        try:
            parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            return str(value)
        return parsed.replace(microsecond=0).isoformat()
    return value


def normalised(collection: Collection, item: dict) -> dict:
    return {field.name: normalise(field.type, item.get(field.name)) for field in collection.fields}


def version(collection: Collection, item: dict) -> str:
    """Hash of an item's mirrored values (not its id, note or dates): what `console_version` holds."""
    text = json.dumps(normalised(collection, item), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def is_echo(collection: Collection, item: dict) -> bool:
    """True when the item holds exactly what the console wrote last (its own write coming back)."""
    return bool(item.get(VERSION_FIELD)) and item.get(VERSION_FIELD) == version(collection, item)


# Directus schema API bodies -------------------------------------------------------------------------

INTERFACES = {"string": "input", "text": "input-multiline", "boolean": "boolean", "integer": "input",
              "decimal": "input", "date": "datetime", "timestamp": "datetime"}


def field_definition(field: Field) -> dict:
    schema = {"is_nullable": True}
    if field.type == "decimal":
        schema |= {"numeric_precision": 14, "numeric_scale": 2}
    if field.type == "string":
        schema["max_length"] = 255
    note = "Modifiable dans Directus : repris par la console." if field.directus_owned else \
        "Géré par la console : une modification ici est annulée."
    return {
        "field": field.name,
        "type": field.type,
        "meta": {"interface": INTERFACES[field.type], "readonly": False, "note": field.note or note},
        "schema": schema,
    }


def system_field_definitions() -> list[dict]:
    return [
        {"field": VERSION_FIELD, "type": "string",
         "meta": {"interface": "input", "readonly": True, "hidden": True,
                  "note": "Empreinte écrite par la console (détection de ses propres écritures)."},
         "schema": {"is_nullable": True, "max_length": 64}},
        {"field": NOTE_FIELD, "type": "text",
         "meta": {"interface": "input-multiline", "readonly": True,
                  "note": "Message de la console (modification refusée, élément rétabli)."},
         "schema": {"is_nullable": True}},
        {"field": UPDATED_FIELD, "type": "timestamp",
         "meta": {"interface": "datetime", "readonly": True, "hidden": True, "special": ["date-updated"]},
         "schema": {"is_nullable": True}},
    ]


def collection_definition(connection, collection: Collection) -> dict:
    """POST /collections body: a manual string primary key (the console's stable id), no auto-increment."""
    return {
        "collection": collection_name(connection, collection.key),
        "meta": {"icon": "sync_alt", "note": collection.note or f"Miroir de la console : {collection.label}.",
                 "hidden": False, "singleton": False},
        "schema": {},
        "fields": [{
            "field": PRIMARY_KEY, "type": "string",
            "meta": {"interface": "input", "readonly": True, "hidden": False,
                     "note": "Identifiant stable de la console."},
            "schema": {"is_primary_key": True, "has_auto_increment": False, "max_length": 64},
        }],
    }


def wanted_fields(collection: Collection) -> list[dict]:
    return [field_definition(field) for field in collection.fields] + system_field_definitions()
