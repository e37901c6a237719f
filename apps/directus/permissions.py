"""Which mirror collections a token may read and write, from the OpenAPI document Directus generates for it.

NOTES §3: `GET /server/specs/oas` lists, for a non-admin user, only the collections and actions its policies
allow. A collection whose `/items/<name>` path has `get` is readable; `post` or `patch` makes it writable.
(The per-path method layout is UNCONFIRMED for 11.x; a path missing altogether reads as "no access".)
"""

from __future__ import annotations

from dataclasses import dataclass, field

from apps.directus import schema


@dataclass
class Access:
    read_write: list[str] = field(default_factory=list)
    read_only: list[str] = field(default_factory=list)
    write_only: list[str] = field(default_factory=list)
    none: list[str] = field(default_factory=list)

    def summary(self) -> str:
        parts = []
        if self.read_write:
            parts.append("lecture et écriture : " + ", ".join(self.read_write))
        if self.read_only:
            parts.append("lecture seule : " + ", ".join(self.read_only))
        if self.write_only:
            parts.append("écriture sans lecture : " + ", ".join(self.write_only))
        if self.none:
            parts.append("absentes ou non autorisées : " + ", ".join(self.none))
        return " ; ".join(parts)

    @property
    def complete(self) -> bool:
        return not (self.read_only or self.write_only or self.none)


def mirror_access(connection, openapi: dict) -> Access:
    paths = openapi.get("paths") or {}
    access = Access()
    for key in schema.COLLECTIONS:
        name = schema.collection_name(connection, key)
        methods = {method.lower() for method in (paths.get(f"/items/{name}") or {})}
        readable = "get" in methods
        writable = bool(methods & {"post", "patch"})
        bucket = (access.read_write if readable and writable else access.read_only if readable
                  else access.write_only if writable else access.none)
        bucket.append(name)
    return access
