"""A sync page's new quotes or invoices, imported in one INSERT per table.

Most of a first sync's pages hold documents the console never saw, of clients it already has. Those are
built in memory (status, columns, lines, totals computed once), then inserted with their lines, their links
(already in step: no insert-then-update) and one timeline entry each ("importée depuis Invoice Ninja", with
the status it arrived in, where the record-by-record path writes two entries). Everything else on the page
(already linked, created by the console, converted from a quote the console knows of, deleted, client not
known yet) is left to reconcile.py's record-by-record rule: `import_new` returns the records it did not take.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from django.db.models import Model
from django.utils import timezone
from django.utils.translation import gettext_noop

from apps.core.bulk import create_announced
from apps.core.models import ExternalRecord, TimelineEntry
from apps.hub.models import Invoice, InvoiceLine, Quote, QuoteLine, lines_from_vendor
from apps.invoiceninja import reconcile
from apps.invoiceninja.models import ClientLink, InvoiceLink, QuoteLink, QuoteMirror
from apps.invoiceninja.payloads import marked_pk


@dataclass(frozen=True)
class DocumentKind:
    kind: str  # the marker's kind and the link's field name
    model: type[Model]
    line_model: type[Model]
    link_model: type[Model]
    statuses: dict
    fill: Callable
    imported: str  # catalogue sources (gettext_noop), read in each reader's language
    imported_with_status: str


QUOTES = DocumentKind(
    "quote", Quote, QuoteLine, QuoteLink, reconcile.QUOTE_STATUSES, reconcile.fill_quote,
    gettext_noop("Devis importé depuis Invoice Ninja."),
    gettext_noop("Devis importé depuis Invoice Ninja (statut « %(status)s »)."),
)
INVOICES = DocumentKind(
    "invoice", Invoice, InvoiceLine, InvoiceLink, reconcile.INVOICE_STATUSES, reconcile.fill_invoice,
    gettext_noop("Facture importée depuis Invoice Ninja."),
    gettext_noop("Facture importée depuis Invoice Ninja (statut « %(status)s »)."),
)
SUCCESS_STATUSES = (Quote.Status.ACCEPTED, Invoice.Status.PAID)


def import_new(connection, kind: DocumentKind, records: list[ExternalRecord]) -> list[ExternalRecord]:
    """Insert the page's plainly new documents; returns the records left for the record-by-record path."""
    candidates = _plainly_new(connection, kind, records)
    if not candidates:
        return records
    companies = {
        link.external_id: link.company
        for link in ClientLink.objects.filter(
            connection=connection, external_id__in={r.payload.get("client_id") for r in candidates}
        ).select_related("company")
    }
    built = []
    for record in candidates:
        company = companies.get(record.payload.get("client_id"))
        if company is None:
            continue  # the record-by-record path fetches the client first
        try:
            built.append((record, *_build(kind, company, record.payload)))
        except (ValueError, TypeError, LookupError, ArithmeticError):
            continue  # an unreadable payload fails alone, on the record-by-record path
    if not built:
        return records
    documents = create_announced(kind.model, [document for _record, document, _lines in built])
    all_lines = []
    for (_record, _document, lines), document in zip(built, documents):
        for line in lines:
            setattr(line, kind.kind, document)
        all_lines.extend(lines)
    with lines_from_vendor():  # Invoice Ninja's copy is the truth, even of a paid invoice
        kind.line_model.objects.bulk_create(all_lines)  # the page's lines in one INSERT
    synced_at = timezone.now()  # after the documents' updated_at: they carry no local change
    create_announced(kind.link_model, [_link(connection, kind, record.payload, document, synced_at)
                                       for (record, _d, _l), document in zip(built, documents)])
    create_announced(TimelineEntry, [_imported_note(kind, record.payload, document)
                                     for (record, _d, _l), document in zip(built, documents)])
    taken = {record.external_id for record, _d, _l in built}
    return [record for record in records if record.external_id not in taken]


def _plainly_new(connection, kind: DocumentKind, records: list[ExternalRecord]) -> list[ExternalRecord]:
    """Records no link, marker or known quote ties to a hub record, and not deleted."""
    ids = [record.external_id for record in records]
    linked = set(kind.link_model.objects.filter(connection=connection, external_id__in=ids)
                 .values_list("external_id", flat=True))
    if kind is INVOICES:  # an invoice converted from a quote joins that quote (reconcile.quote_of_remote_invoice)
        linked |= set(QuoteMirror.objects.filter(connection=connection, invoice_id__in=ids)
                      .values_list("invoice_id", flat=True))
    return [
        record for record in records
        if record.external_id not in linked
        and not record.payload.get("is_deleted")
        and isinstance(record.payload.get("client_id"), str)
        and record.payload.get("id") == record.external_id
        and marked_pk(record.payload.get("private_notes"), kind.kind) is None
    ]


def _build(kind: DocumentKind, company, payload: dict):
    document = kind.model(company=company, currency=company.currency)
    status = kind.statuses.get(str(payload.get("status_id")))
    if status:
        document.status = status
    kind.fill(document, payload)
    lines = reconcile.lines_to_write(document, payload)  # sets the totals; a new document has no lines to compare
    return document, lines


def _link(connection, kind: DocumentKind, payload: dict, document, synced_at):
    """The link as reconcile.in_step leaves a newly imported one."""
    remote_updated_at = reconcile.from_unix(payload.get("updated_at"))
    return kind.link_model(
        connection=connection, external_id=payload["id"], number=payload.get("number", ""),
        remote_state=reconcile.remote_state(payload), remote_updated_at=remote_updated_at,
        remote_hash=reconcile.fingerprint(payload) if remote_updated_at else "", last_synced_at=synced_at,
        **{kind.kind: document},
    )


def _imported_note(kind: DocumentKind, payload: dict, document) -> TimelineEntry:
    if document.status == kind.model.Status.DRAFT:
        message, params, level = kind.imported, {}, TimelineEntry.Level.INFO
    else:
        message, params = kind.imported_with_status, {"status": kind.model.Status(document.status).label}
        level = TimelineEntry.Level.SUCCESS if document.status in SUCCESS_STATUSES else TimelineEntry.Level.INFO
    return TimelineEntry.unsaved(document, message, params=params, provider=reconcile.PROVIDER, level=level,
                                 external_ids={"invoiceninja_id": payload["id"]})
