"""Frappe v15 list parameters (NOTES §4) turned into a query over the emulator's documents.

`fields` (JSON list, `*` = every column, default `name`), `filters` and `or_filters` (list of
`[field, op, value]` / `[doctype, field, op, value]`, or a dict of `field: value` / `field: [op, value]`),
`order_by` (validated; when absent the order is undefined in v15, so the emulator shuffles), `limit_start`,
`limit_page_length` (20 when absent, 0 = every row; `limit` is its alias when it is absent). A field the
doctype does not have is a 417 DataError "Field not permitted in query", as in Frappe.
"""

from __future__ import annotations

import json
import re

from django.db.models import Q, QuerySet

from apps.erpnext import catalogue
from apps.erpnext.sandbox.state import SandboxDocument

COLUMNS = {"name": "name", "modified": "modified", "docstatus": "docstatus"}
DEFAULT_PAGE_LENGTH = 20
NUMERIC_TYPES = {"Currency", "Float", "Percent"}
INTEGER_TYPES = {"Check", "Int"}
_ORDER_PART = re.compile(r"^`?(?:tab[\w ]+`?\.`?)?(?P<field>[a-z_][a-z0-9_]*)`?(?:\s+(?P<direction>asc|desc))?$",
                         re.IGNORECASE)


class FrappeError(Exception):
    """An error Frappe would raise: its HTTP status and exception class name travel with it."""

    def __init__(self, status: int, exc_type: str, message: str):
        super().__init__(message)
        self.status, self.exc_type, self.message = status, exc_type, message


def not_permitted_field(field) -> FrappeError:
    return FrappeError(417, "DataError", f"Field not permitted in query: {field}")


def parse_json(raw: str | None, default):
    if raw in (None, ""):
        return default
    try:
        return json.loads(raw)
    except ValueError:
        # UNCONFIRMED (NOTES §15): a plain ValueError has no Frappe status, so probably a 500.
        raise FrappeError(500, "JSONDecodeError", "Expecting value") from None


def column(doctype: str, field: str) -> str:
    if field not in catalogue.columns(doctype):
        raise not_permitted_field(field)
    return COLUMNS.get(field, f"data__{field}")


def select_fields(doctype: str, raw: str | None) -> list[str]:
    fields = parse_json(raw, ["name"])
    if isinstance(fields, str):
        fields = [fields]
    if not isinstance(fields, list):
        raise FrappeError(417, "DataError", "fields must be a list")
    chosen = []
    for field in fields:
        if field == "*":
            chosen.extend(catalogue.columns(doctype))
            continue
        if not isinstance(field, str) or field not in catalogue.columns(doctype):
            raise not_permitted_field(field)
        chosen.append(field)
    return list(dict.fromkeys(chosen))


def filter_conditions(doctype: str, raw) -> list[Q]:
    if isinstance(raw, dict):
        entries = [[field, *(value if isinstance(value, list) and len(value) == 2 else ["=", value])]
                   for field, value in raw.items()]
    elif isinstance(raw, list):
        entries = raw
    else:
        raise FrappeError(417, "ValidationError", "Filters must be a list or a dict")
    conditions = []
    for entry in entries:
        if not isinstance(entry, list) or len(entry) not in (3, 4):
            raise FrappeError(417, "ValidationError", f"Invalid filter: {entry}")
        if len(entry) == 4:
            if entry[0] != doctype:  # child-table filters are not emulated
                raise not_permitted_field(f"{entry[0]}.{entry[1]}")
            entry = entry[1:]
        field, operator, value = entry
        conditions.append(condition(doctype, field, str(operator).lower().strip(), value))
    return conditions


def condition(doctype: str, field, operator: str, value) -> Q:
    lookup = column(doctype, field)
    if operator == "=":
        return Q(**{f"{lookup}__isnull": True}) if value is None else Q(**{lookup: value})
    if operator == "!=":
        return ~Q(**{lookup: value})
    comparisons = {">": "gt", "<": "lt", ">=": "gte", "<=": "lte"}
    if operator in comparisons:
        return Q(**{f"{lookup}__{comparisons[operator]}": value})
    if operator in ("in", "not in"):
        values = value if isinstance(value, list) else [part.strip() for part in str(value).split(",")]
        matched = Q(**{f"{lookup}__in": values})
        return ~matched if operator == "not in" else matched
    if operator in ("like", "not like"):
        pattern = str(value)
        core = pattern.strip("%")
        if pattern.startswith("%") and pattern.endswith("%") and len(pattern) > 1:
            matched = Q(**{f"{lookup}__icontains": core})
        elif pattern.startswith("%"):
            matched = Q(**{f"{lookup}__iendswith": core})
        elif pattern.endswith("%"):
            matched = Q(**{f"{lookup}__istartswith": core})
        else:
            matched = Q(**{f"{lookup}__iexact": core})
        return ~matched if operator == "not like" else matched
    if operator == "is":
        empty = Q(**{f"{lookup}__isnull": True}) | Q(**{lookup: ""})
        return ~empty if str(value).lower() == "set" else empty
    if operator == "between" and isinstance(value, list) and len(value) == 2:
        return Q(**{f"{lookup}__gte": value[0], f"{lookup}__lte": value[1]})
    raise FrappeError(417, "ValidationError", f"Unsupported operator: {operator}")


def ordering(doctype: str, raw: str | None) -> list[str]:
    if not raw or not raw.strip():
        return ["?"]  # v15 sends no ORDER BY: the database's order, which nothing guarantees (NOTES §4)
    if re.search(r"\(|\bselect\b|;|--", raw, re.IGNORECASE):
        raise FrappeError(417, "ValidationError", "Cannot use sub-query or function in order by")
    order = []
    for part in raw.split(","):
        match = _ORDER_PART.match(part.strip())
        if match is None:
            raise FrappeError(417, "ValidationError", f"Invalid order by: {part.strip()}")
        lookup = column(doctype, match["field"])
        order.append(("-" if (match["direction"] or "desc").lower() == "desc" else "") + lookup)
    return order


def page_bounds(params) -> tuple[int, int | None]:
    """(start, length or None for no LIMIT), with Frappe's defaults."""
    try:
        start = int(params.get("limit_start") or 0)
        raw_length = params.get("limit_page_length")
        if raw_length is None:
            raw_length = params.get("limit") or DEFAULT_PAGE_LENGTH
        length = int(raw_length)
    except ValueError:
        raise FrappeError(417, "ValidationError", "limit_start and limit_page_length must be integers") from None
    return max(start, 0), (None if length == 0 else max(length, 0))


def documents(site, doctype: str, params) -> QuerySet:
    queryset = SandboxDocument.objects.filter(site=site, doctype=doctype)
    for condition_ in filter_conditions(doctype, parse_json(params.get("filters"), [])):
        queryset = queryset.filter(condition_)
    alternatives = filter_conditions(doctype, parse_json(params.get("or_filters"), []))
    if alternatives:
        any_of = Q()
        for alternative in alternatives:
            any_of |= alternative
        queryset = queryset.filter(any_of)
    return queryset


def value_of(data: dict, field: dict):
    """A column's value as Frappe serialises it: stored value, else the field's default, typed."""
    name = field["fieldname"]
    if name in data:
        return data[name]
    default = field.get("default")
    if field.get("fieldtype") in INTEGER_TYPES:
        try:
            return int(default or 0)
        except ValueError:
            return 0
    if field.get("fieldtype") in NUMERIC_TYPES:
        try:
            return float(default or 0)
        except ValueError:
            return 0.0
    return default if default not in (None, "") else None


def list_rows(site, doctype: str, params) -> list[dict]:
    fields = select_fields(doctype, params.get("fields"))
    queryset = documents(site, doctype, params).order_by(*ordering(doctype, params.get("order_by")))
    start, length = page_bounds(params)
    queryset = queryset[start:start + length] if length is not None else queryset[start:]
    columns = catalogue.columns(doctype)
    rows = []
    for data in queryset.values_list("data", flat=True):
        rows.append({field: value_of(data, columns[field]) for field in fields})
    if params.get("as_dict") in ("0", "false", "False"):
        return [[row[field] for field in fields] for row in rows]
    return rows
