"""The items query of the emulator (NOTES §2.1–2.2): filter (JSON or bracket syntax), fields, sort, limit,
offset, page, meta. Values compare as Directus compares them for the console's field types: numbers as
numbers, everything else (ISO dates and timestamps included) as text."""

from __future__ import annotations

import json
import re
from decimal import Decimal, InvalidOperation

DEFAULT_LIMIT = 100


class InvalidQuery(ValueError):
    pass


def _nest(target: dict, path: list[str], value):
    for part in path[:-1]:
        target = target.setdefault(part, {})
    target[path[-1]] = value


def parse_filter(params) -> dict | None:
    raw = params.get("filter")
    if raw:
        try:
            parsed = json.loads(raw)
        except json.JSONDecodeError:
            raise InvalidQuery("Invalid query. \"filter\" is not valid JSON.") from None
        if not isinstance(parsed, dict):
            raise InvalidQuery("Invalid query. \"filter\" must be an object.")
        return parsed
    bracketed = {}
    for name in params:
        if name.startswith("filter["):
            path = re.findall(r"\[([^\]]*)\]", name)
            values = params.getlist(name)
            value = values if path and path[-1] in ("_in", "_nin") and len(values) > 1 else values[-1]
            if path and path[-1] in ("_in", "_nin") and isinstance(value, str):
                value = value.split(",")
            _nest(bracketed, path, value)
    return bracketed or None


def _number(value):
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def _compare(left, right, op) -> bool:
    if left is None:
        return False
    a, b = _number(left), _number(right)
    if a is None or b is None or isinstance(left, str) and not re.fullmatch(r"-?\d+(\.\d+)?", left):
        a, b = str(left), str(right)
    return {"_lt": a < b, "_lte": a <= b, "_gt": a > b, "_gte": a >= b}[op]


def _equal(left, right) -> bool:
    if isinstance(left, bool) or isinstance(right, bool):
        return str(left).lower() == str(right).lower()
    a, b = _number(left), _number(right)
    if a is not None and b is not None and not isinstance(left, str):
        return a == b
    return str(left) == str(right) if left is not None else right is None


def matches(item: dict, rule: dict) -> bool:
    for key, condition in rule.items():
        if key == "_and":
            if not all(matches(item, sub) for sub in condition):
                return False
            continue
        if key == "_or":
            if not any(matches(item, sub) for sub in condition):
                return False
            continue
        if not isinstance(condition, dict):
            raise InvalidQuery(f"Invalid query. Invalid filter for field \"{key}\".")
        value = item.get(key)
        for op, expected in condition.items():
            if op == "_eq":
                ok = _equal(value, expected)
            elif op == "_neq":
                ok = not _equal(value, expected)
            elif op in ("_lt", "_lte", "_gt", "_gte"):
                ok = _compare(value, expected, op)
            elif op in ("_in", "_nin"):
                options = expected if isinstance(expected, list) else str(expected).split(",")
                ok = any(_equal(value, option) for option in options) == (op == "_in")
            elif op == "_null":
                ok = (value is None) == (str(expected).lower() in ("true", "1"))
            elif op == "_nnull":
                ok = (value is not None) == (str(expected).lower() in ("true", "1"))
            elif op == "_empty":
                ok = value in (None, "", [])
            elif op == "_nempty":
                ok = value not in (None, "", [])
            elif op == "_contains":
                ok = value is not None and str(expected) in str(value)
            elif op == "_icontains":
                ok = value is not None and str(expected).lower() in str(value).lower()
            elif op == "_ncontains":
                ok = value is None or str(expected) not in str(value)
            elif op == "_starts_with":
                ok = value is not None and str(value).startswith(str(expected))
            elif op == "_ends_with":
                ok = value is not None and str(value).endswith(str(expected))
            elif op == "_between":
                ok = _compare(value, expected[0], "_gte") and _compare(value, expected[1], "_lte")
            else:
                raise InvalidQuery(f"Invalid query. Unknown filter operator \"{op}\".")
            if not ok:
                return False
    return True


def parse_fields(params) -> list[str] | None:
    values = params.getlist("fields[]") or params.getlist("fields")
    names = [name.strip() for value in values for name in value.split(",") if name.strip()]
    return None if not names or "*" in names else names


def parse_int(params, name, default):
    raw = params.get(name)
    if raw in (None, ""):
        return default
    try:
        return int(raw)
    except ValueError:
        raise InvalidQuery(f"Invalid query. \"{name}\" has to be a number.") from None


def run(items: list[dict], params) -> tuple[list[dict], dict | None]:
    """Filter, sort, page and trim `items`; returns (rows, meta or None)."""
    rule = parse_filter(params)
    rows = [item for item in items if matches(item, rule)] if rule else list(items)
    filter_count = len(rows)
    sort = [s.strip() for s in (params.get("sort") or "").split(",") if s.strip()]
    for key in reversed(sort):
        field, descending = (key[1:], True) if key.startswith("-") else (key, False)
        rows.sort(key=lambda item: (item.get(field) is not None, _number(item.get(field))
                                    if isinstance(item.get(field), (int, float)) else str(item.get(field) or "")),
                  reverse=descending)
    limit = parse_int(params, "limit", DEFAULT_LIMIT)
    offset = parse_int(params, "offset", None)
    page = parse_int(params, "page", None)
    if offset is None:
        offset = limit * (page - 1) if page and limit > 0 else 0
    rows = rows[offset:] if limit == -1 else rows[offset:offset + limit]
    fields = parse_fields(params)
    if fields:
        rows = [{name: row.get(name) for name in fields} for row in rows]
    meta_param = params.get("meta")
    meta = None
    if meta_param:
        wanted = {m.strip() for m in meta_param.split(",")}
        meta = {}
        if wanted & {"*", "total_count"}:
            meta["total_count"] = len(items)
        if wanted & {"*", "filter_count"}:
            meta["filter_count"] = filter_count
    return rows, meta
