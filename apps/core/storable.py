"""Text any database column accepts, made from whatever a vendor or an exception handed us.

PostgreSQL `text` refuses NUL (U+0000) and no database can store a lone surrogate (U+D800..U+DFFF), which
UTF-8 cannot encode; `\\ud800` in a JSON body decodes to exactly that. Both are written out visibly as
escapes, so the stored value still says what was received.
"""

from __future__ import annotations

import logging

logger = logging.getLogger(__name__)

# Ends a value cut to fit its column, so whoever reads it sees it is not the whole value.
CUT_MARK = "…"


def storable_text(value: str) -> str:
    if "\x00" in value:
        value = value.replace("\x00", "\\u0000")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = value.encode("utf-8", errors="backslashreplace").decode("utf-8")
    return value


def storable_json(value):
    """A JSON-able value (dict / list / str ...) with every string, keys included, made storable."""
    if isinstance(value, str):
        return storable_text(value)
    if isinstance(value, dict):
        return {storable_text(str(key)): storable_json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [storable_json(item) for item in value]
    return value


def fit_to_columns(instance, *field_names: str) -> list[str]:
    """Make the vendor's text in these fields storable and cut what exceeds its column to max_length, ending
    with "…" (visible on the page; never valid where a format is checked, e.g. an IBAN before a payment).

    For descriptive values a mirror copies (names, addresses, bank details), so one odd record never fails a
    sync or a webhook; identifiers are not passed here: an id that does not fit must fail, not collide.
    Returns the names of the fields that were cut (also logged).
    """
    cut = []
    for name in field_names:
        value = getattr(instance, name)
        if not isinstance(value, str):
            continue
        value = storable_text(value)
        limit = instance._meta.get_field(name).max_length
        if limit and len(value) > limit:
            value = value[: limit - len(CUT_MARK)] + CUT_MARK
            cut.append(name)
        setattr(instance, name, value)
    if cut:
        logger.warning("%s %s : valeur(s) trop longue(s) coupée(s) : %s", instance._meta.label,
                       instance.pk or "(nouveau)", ", ".join(cut))
    return cut
