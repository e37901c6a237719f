"""Panels that system apps add to a hub record's page (e.g. "Invoice Ninja : n° D-0042, synchronisé").

The hub cannot import system apps (layers point down), so each system registers a panel for the hub
models it links to; the record page and admin change form render every registered panel.
"""

from collections.abc import Callable
from dataclasses import dataclass

from django.db import models


@dataclass(frozen=True)
class RecordPanel:
    title: str
    template: str
    # (obj, user) -> template context, or None to hide the panel for this record
    context: Callable[[models.Model, object], dict | None]


_panels: dict[type, list[RecordPanel]] = {}


def register(model: type[models.Model], panel: RecordPanel) -> None:
    _panels.setdefault(model._meta.concrete_model, []).append(panel)


def for_model(model) -> list[RecordPanel]:
    return list(_panels.get(model._meta.concrete_model, []))
