"""Panels that system apps add to a hub record's page (e.g. "Invoice Ninja : n° D-0042, synchronisé").

The hub cannot import system apps (layers point down), so each system registers a panel for the hub
models it links to; the record page and admin change form render every registered panel, and refresh them
live when the record or a row a panel declares in `sources` changes.
"""

from collections.abc import Callable
from dataclasses import dataclass

from django.db import models

from apps.core import record_live


@dataclass(frozen=True)
class RecordPanel:
    title: str
    template: str
    # (obj, user) -> template context, or None to hide the panel for this record
    context: Callable[[models.Model, object], dict | None]
    # Rows the panel reads, as (model, name of its foreign key to the record): saving one refreshes the
    # record's open pages (apps.core.record_live). Changes to the record itself always do.
    sources: tuple[tuple[type[models.Model], str], ...] = ()
    # The panel listens and is pushed on its own (DocuSeal): a record refresh leaves it in place (and its socket
    # open), except when a page comes back from a dropped socket and catches up.
    updates_itself: bool = False


_panels: dict[type, list[RecordPanel]] = {}


def register(model: type[models.Model], panel: RecordPanel) -> None:
    _panels.setdefault(model._meta.concrete_model, []).append(panel)
    for source, via in panel.sources:
        record_live.watch_related(source, via)


def for_model(model) -> list[RecordPanel]:
    return list(_panels.get(model._meta.concrete_model, []))
