"""Text any database column accepts, made from whatever a vendor or an exception handed us.

PostgreSQL `text` refuses NUL (U+0000) and no database can store a lone surrogate (U+D800..U+DFFF), which
UTF-8 cannot encode; `\\ud800` in a JSON body decodes to exactly that. Both are written out visibly as
escapes, so the stored value still says what was received.
"""

from __future__ import annotations


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
