"""The ERPNext v15 field catalogue the console relies on (a copy kept inside the app: `catalogue_v15.json`).

Derived from the ERPNext 15.90.0 doctype JSON files (see tests/contracts/erpnext/SOURCE.md). The sandbox
emulator builds its documents and validates `fields`/`filters` from it; `connection test` names the roles
that can read a doctype from it. Not an API description: ERPNext publishes none.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

CATALOGUE_PATH = Path(__file__).with_name("catalogue_v15.json")
# Layout fields were removed from the catalogue; these types hold child rows, not columns.
TABLE_TYPES = frozenset({"Table", "Table MultiSelect"})


@cache
def load() -> dict:
    return json.loads(CATALOGUE_PATH.read_text())


def doctypes() -> dict[str, dict]:
    return load()["doctypes"]


def standard_fields(doctype: str) -> tuple[str, ...]:
    about = load()["_about"]["frappe_standard_fields"]
    fields = list(about["every_doctype"])
    if doctypes()[doctype].get("istable"):
        fields += about["child_tables_also"]
    return tuple(fields)


@cache
def columns(doctype: str) -> dict[str, dict]:
    """Fieldname -> catalogue entry for every column a list query may name (standard fields included)."""
    found = {name: {"fieldname": name, "fieldtype": "Data"} for name in standard_fields(doctype)}
    for field in doctypes()[doctype]["fields"]:
        if field["fieldtype"] not in TABLE_TYPES:
            found[field["fieldname"]] = field
    found["docstatus"] = {"fieldname": "docstatus", "fieldtype": "Int"}
    found["idx"] = {"fieldname": "idx", "fieldtype": "Int"}
    for name in ("modified", "creation"):
        found[name] = {"fieldname": name, "fieldtype": "Datetime"}
    return found


def read_roles(doctype: str) -> list[str]:
    return list(doctypes()[doctype].get("roles_with_read_permlevel0") or [])
