"""`manage.py directus bootstrap <connection>`: create the mirror's collections and fields in Directus.

Idempotent: existing collections and fields are read first (`GET /collections`, `GET /fields/<c>`) and only
what is missing is created (`POST /collections` with a manual string primary key, `POST /fields/<c>`). A
field that exists with another type is reported, never altered: changing a team's schema is their call.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from apps.directus import schema
from apps.directus.client import DirectusClient


@dataclass
class BootstrapReport:
    created_collections: list[str] = field(default_factory=list)
    created_fields: list[str] = field(default_factory=list)
    mismatched_fields: list[str] = field(default_factory=list)

    def summary(self) -> str:
        if not (self.created_collections or self.created_fields):
            text = "Schéma déjà en place : rien à créer."
        else:
            text = (f"{len(self.created_collections)} collection(s) et {len(self.created_fields)} champ(s) créés.")
        if self.mismatched_fields:
            text += " Champs existants d'un autre type (laissés tels quels) : " + ", ".join(self.mismatched_fields)
        return text


def bootstrap(connection, client: DirectusClient | None = None) -> BootstrapReport:
    client = client or DirectusClient(connection)
    report = BootstrapReport()
    existing = {str(c.get("collection")) for c in client.collections()}
    for collection in schema.COLLECTIONS.values():
        name = schema.collection_name(connection, collection.key)
        if name not in existing:
            client.create_collection(schema.collection_definition(connection, collection))
            report.created_collections.append(name)
        have = {str(f.get("field")): f for f in client.fields(name)}
        for definition in schema.wanted_fields(collection):
            current = have.get(definition["field"])
            if current is None:
                client.create_field(name, definition)
                report.created_fields.append(f"{name}.{definition['field']}")
            elif current.get("type") and current.get("type") != definition["type"]:
                report.mismatched_fields.append(f"{name}.{definition['field']} ({current.get('type')})")
    return report
