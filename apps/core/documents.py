"""Printable documents of hub records, supplied by whichever system renders them.

A system app that can render a record as a PDF (Invoice Ninja for quotes and invoices) registers a
source in its AppConfig.ready(); another system that needs the file (DocuSeal, to have a quote signed)
asks this registry, so neither imports the other. A source returns None when it has no document for
that record (the record was never pushed to its system) and raises DocumentUnavailable, with a French
message a user can read, when it should have one but cannot deliver it now.

A source may also *issue* a draft: record it in its system with its definitive number, so it has a
document, without sending it to anyone. DocuSeal asks for that before having a draft quote signed: the
client signs the quote Invoice Ninja will later convert, under its real number, and gets one e-mail (the
signing request), not two.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.db import models


@dataclass(frozen=True)
class DocumentFile:
    filename: str
    content: bytes
    source: str  # label of the system that rendered it ("Invoice Ninja")
    content_type: str = "application/pdf"


class DocumentUnavailable(Exception):
    """The source knows the record but cannot deliver its document now (service down, not sent yet)."""


Source = Callable[[models.Model], DocumentFile | None]

_sources: dict[type, list[tuple[str, Source]]] = {}


def register(model: type[models.Model], provider: str, source: Source) -> None:
    """Declare that `provider` can render `model` records; registering again replaces the previous source."""
    entries = _sources.setdefault(model._meta.concrete_model, [])
    entries[:] = [(key, fn) for key, fn in entries if key != provider] + [(provider, source)]


def unregister(model: type[models.Model], provider: str) -> None:
    entries = _sources.get(model._meta.concrete_model, [])
    entries[:] = [(key, fn) for key, fn in entries if key != provider]


@dataclass(frozen=True)
class Issuer:
    label: str  # the system that issues ("Invoice Ninja"), for the confirmation screen
    can_issue: Callable[[models.Model], bool]  # its connection is active and the record is complete enough
    issue: Callable  # (obj, run) -> None; saves its progress on the kernel ActionRun, raises DocumentUnavailable


_issuers: dict[type, list[tuple[str, Issuer]]] = {}


def register_issuer(model: type[models.Model], provider: str, issuer: Issuer) -> None:
    entries = _issuers.setdefault(model._meta.concrete_model, [])
    entries[:] = [(key, found) for key, found in entries if key != provider] + [(provider, issuer)]


def issuer_for(obj: models.Model) -> Issuer | None:
    """The first registered issuer able to issue `obj` now; None when nobody can."""
    for _provider, issuer in _issuers.get(type(obj)._meta.concrete_model, []):
        if issuer.can_issue(obj):
            return issuer
    return None


def pdf_for(obj: models.Model) -> DocumentFile | None:
    """The first document a registered source has for `obj`; None when no source has one.

    DocumentUnavailable from a source propagates: the caller tells the user why, rather than silently
    sending something else.
    """
    for _provider, source in _sources.get(type(obj)._meta.concrete_model, []):
        document = source(obj)
        if document is not None:
            return document
    return None
