"""Reflecting Invoice Ninja objects into hub records, under the conflict rule.

Conflict rule: a hub record linked to an Invoice Ninja object is overwritten from Invoice Ninja only
when Invoice Ninja changed since the last sync (remote `updated_at` newer than the link's
`remote_updated_at`) and the hub record did not (its `updated_at` is not newer than the link's
`last_synced_at`). When both changed, nothing is overwritten: the link is marked in conflict, a
warning goes on the record's timeline and its Invoice Ninja panel shows it until someone resolves it,
either by pushing the console's version ("Envoyer le devis" / "Envoyer la facture") or by taking
Invoice Ninja's ("Reprendre la version Invoice Ninja").

Called by the sync resources (sync.py) and the webhook handlers (handlers.py); every function here is
idempotent: applying the same mirror twice changes nothing the second time.
"""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal
from datetime import datetime, timezone as dt_timezone

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from apps.core.models import TimelineEntry
from apps.core.storable import fit_to_columns
from apps.hub.models import Company, Contact, Invoice, Payment, Quote, lines_from_vendor, money
from apps.invoiceninja.models import ClientLink, InvoiceLink, QuoteLink, QuoteMirror
from apps.invoiceninja.client import dumps
from apps.invoiceninja.payloads import CURRENCY_CODES, decimal, marked_pk

PROVIDER = "invoiceninja"
PAYMENT_SOURCE = "invoiceninja"

QUOTE_STATUSES = {
    "1": Quote.Status.DRAFT,
    "2": Quote.Status.SENT,
    "3": Quote.Status.ACCEPTED,
    "4": Quote.Status.CONVERTED,
    "-1": Quote.Status.EXPIRED,
}
INVOICE_STATUSES = {
    "1": Invoice.Status.DRAFT,
    "2": Invoice.Status.SENT,
    "3": Invoice.Status.PARTIAL,
    "4": Invoice.Status.PAID,
    "5": Invoice.Status.CANCELLED,
    "6": Invoice.Status.CANCELLED,
}
# Payment status_id: 2 cancelled, 3 failed — such payments do not count.
VOID_PAYMENT_STATUSES = {"2", "3"}


class MissingDependency(Exception):
    """The object refers to one the console does not know yet (its client, its invoice)."""


def from_unix(value) -> datetime | None:
    try:
        seconds = int(value or 0)
    except (TypeError, ValueError):
        return None
    return datetime.fromtimestamp(seconds, tz=dt_timezone.utc) if seconds else None


def fingerprint(payload: dict) -> str:
    """Content hash of a remote object, the same whether its amounts are Decimals (API) or floats (stored)."""
    plain = {k: v for k, v in payload.items() if k not in ("client", "invoices")}
    return hashlib.sha256(json.dumps(plain, sort_keys=True, default=_plain_number).encode()).hexdigest()


def _plain_number(value):
    """A Decimal as the number its JSON text reads back as (100 for 1E+2, 150.5 for 150.50), as stored."""
    if isinstance(value, Decimal):
        return json.loads(dumps(value))
    raise TypeError(f"{type(value).__name__} n'est pas du JSON")


def in_step(link, payload: dict, **fields):
    link.mark_in_step(from_unix(payload.get("updated_at")), remote_hash=fingerprint(payload), **fields)


def remote_state(payload: dict) -> str:
    if payload.get("is_deleted"):
        return ClientLink.RemoteState.DELETED
    if payload.get("archived_at"):
        return ClientLink.RemoteState.ARCHIVED
    return ClientLink.RemoteState.ACTIVE


def note(obj, message, *, params=None, level=TimelineEntry.Level.INFO, webhook_event=None, **external_ids):
    """With `params`, `message` is a catalogue source (gettext_noop) read in each reader's language."""
    TimelineEntry.record(obj, message, params=params, provider=PROVIDER, level=level, external_ids=external_ids,
                         webhook_event=webhook_event)


def parse_date(value):
    if not value:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        return None


# The conflict rule ------------------------------------------------------------------------------
def reconcile(link, hub_record, payload: dict, overwrite, *, label: str, webhook_event=None, force=False) -> bool:
    """Apply `overwrite()` if the rule allows it; returns True when the hub record was overwritten."""
    remote_ts = from_unix(payload.get("updated_at"))
    remote_hash = fingerprint(payload)
    state = remote_state(payload)
    if state != link.remote_state:
        link.remote_state = state
        link.save(update_fields=["remote_state"])
        if state != ClientLink.RemoteState.ACTIVE:
            note(hub_record, _("%(label)s %(state)s dans Invoice Ninja.") % {
                "label": label, "state": link.get_remote_state_display().lower()},
                level=TimelineEntry.Level.WARNING, webhook_event=webhook_event, invoiceninja_id=link.external_id)
    if not force and not link.has_remote_changes(remote_ts, remote_hash):
        return False
    if not force and link.has_local_changes(hub_record):
        if not link.in_conflict:
            link.mark_conflict(_("Modifié dans la console et dans Invoice Ninja depuis la dernière synchronisation ; "
                                 "aucune des deux versions n'a été écrasée."))
            note(hub_record,
                 gettext_noop("Conflit de synchronisation Invoice Ninja : %(label)s modifié des deux côtés."),
                 params={"label": label}, level=TimelineEntry.Level.WARNING, webhook_event=webhook_event,
                 invoiceninja_id=link.external_id)
        return False
    overwrite()
    link.mark_in_step(remote_ts, remote_hash, number=payload.get("number") or link.number)
    return True


def in_step_after_console_write(link, hub_record, write):
    """A hub write that reflects the remote side (a payment arriving) must not look like a local edit."""
    had_local_changes = link.has_local_changes(hub_record)
    write()
    if not had_local_changes:
        link.last_synced_at = timezone.now()
        link.save(update_fields=["last_synced_at"])


# Clients ----------------------------------------------------------------------------------------
def apply_client(connection, payload: dict, *, webhook_event=None, force=False) -> Company | None:
    link = ClientLink.objects.filter(connection=connection, external_id=payload["id"]).select_related("company").first()
    if link is None:
        company = _adopt(Company, payload, "company")
        if company is None:
            if payload.get("is_deleted"):
                return None
            company = Company(name=payload.get("name") or payload.get("number") or payload["id"])
            fit_to_columns(company, "name")
            company.save()
            _write_company(company, payload)
            note(company, gettext_noop("Client importé depuis Invoice Ninja."), params={}, webhook_event=webhook_event,
                 invoiceninja_id=payload["id"])
        link, _created = ClientLink.objects.get_or_create(
            connection=connection, company=company, defaults={"external_id": payload["id"]})
        in_step(link, payload, number=payload.get("number", ""),
                          remote_state=remote_state(payload))
        return company
    company = link.company
    reconcile(link, company, payload, lambda: _write_company(company, payload), label=_("Client"),
              webhook_event=webhook_event, force=force)
    return company


def _write_company(company: Company, payload: dict):
    company.name = payload.get("name") or company.name
    company.vat_number = payload.get("vat_number") or ""
    company.address1 = payload.get("address1") or ""
    company.postal_code = payload.get("postal_code") or ""
    company.city = payload.get("city") or ""
    company.phone = payload.get("phone") or ""
    currency = CURRENCY_CODES.get(str((payload.get("settings") or {}).get("currency_id", "")))
    if currency:
        company.currency = currency
    contacts = [c for c in payload.get("contacts") or [] if c.get("email")]
    if contacts and not company.email:
        company.email = contacts[0]["email"]
    fit_to_columns(company, "name", "vat_number", "address1", "postal_code", "city", "phone")
    company.save()
    known = {email.lower() for email in company.contacts.values_list("email", flat=True)}
    for contact in contacts:
        if contact["email"].lower() not in known:
            Contact.objects.create(company=company, first_name=contact.get("first_name") or "",
                                   last_name=contact.get("last_name") or "", email=contact["email"],
                                   phone=contact.get("phone") or "", is_primary=bool(contact.get("is_primary")))


def company_for_client(connection, client_id: str, *, fetch=None) -> Company:
    """The hub company of a remote client; `fetch(client_id)` is called when the console never saw it."""
    if not client_id or not isinstance(client_id, str):
        # Never GET /clients/ (the listing) or /clients/None: the object is incomplete, retrying will not help.
        raise ValueError("Objet Invoice Ninja sans client (client_id vide) : rien à rattacher.")
    link = ClientLink.objects.filter(connection=connection, external_id=client_id).select_related("company").first()
    if link:
        return link.company
    if fetch is None:
        raise MissingDependency(f"Client Invoice Ninja {client_id} inconnu de la console")
    company = apply_client(connection, fetch(client_id))
    if company is None:
        raise MissingDependency(f"Client Invoice Ninja {client_id} supprimé")
    return company


# Quotes and invoices ----------------------------------------------------------------------------
def _adopt(model, payload: dict, kind: str):
    """The hub record that created this remote object (marker in its private notes), if any."""
    pk = marked_pk(payload.get("private_notes"), kind)
    return model.objects.filter(pk=pk).first() if pk else None


def lines_to_write(document, payload: dict) -> list | None:
    """The document's lines as Invoice Ninja has them (unsaved, totals set on `document`), or None if unchanged.

    A document not saved yet has no lines to compare or delete; its totals go into its first INSERT.
    """
    wanted = [
        (item.get("notes") or item.get("product_key") or "—", decimal(item.get("quantity")),
         money(decimal(item.get("cost"))), decimal(item.get("tax_rate1")))
        for item in payload.get("line_items") or []
    ]
    if document.pk is not None:
        current = [(line.description, line.quantity, line.unit_price, line.tax_rate) for line in document.lines.all()]
        if wanted == current:
            return None
    line_model = type(document).lines.rel.related_model  # the instance's manager refuses an unsaved document
    lines = [line_model(position=position, description=description[:500], quantity=quantity,
                        unit_price=unit_price, tax_rate=tax_rate)
             for position, (description, quantity, unit_price, tax_rate) in enumerate(wanted)]
    document.subtotal = money(sum((line.net_amount for line in lines), Decimal(0)))
    document.tax_total = money(sum((line.tax_amount for line in lines), Decimal(0)))
    document.total = document.subtotal + document.tax_total
    return lines


def _save_with_lines(document, payload: dict):
    """Save the document and replace its lines if they changed: one INSERT of all lines, totals computed once."""
    existed = document.pk is not None
    lines = lines_to_write(document, payload)
    document.save()
    if lines is None:
        return
    owner = type(document).lines.field.name
    for line in lines:
        setattr(line, owner, document)
    with lines_from_vendor():  # Invoice Ninja's copy is the truth, even of a paid invoice
        if existed:
            document.lines.all().delete()
        type(document).lines.rel.related_model.objects.bulk_create(lines)


def _status_changed(document, new_status, webhook_event, external_id):
    if new_status and new_status != document.status:
        document.status = new_status
        level = (TimelineEntry.Level.SUCCESS
                 if new_status in (Quote.Status.ACCEPTED, Invoice.Status.PAID) else TimelineEntry.Level.INFO)
        return lambda: note(document, gettext_noop("Invoice Ninja : statut « %(status)s »."), params={
            "status": type(document).Status(document.status).label}, level=level, webhook_event=webhook_event,
            invoiceninja_id=external_id)
    return None


def _write_quote(quote: Quote, payload: dict, webhook_event):
    after_save = _status_changed(quote, QUOTE_STATUSES.get(str(payload.get("status_id"))), webhook_event,
                                 payload["id"])
    fill_quote(quote, payload)
    _save_with_lines(quote, payload)
    if after_save:
        after_save()


def fill_quote(quote: Quote, payload: dict):
    """The quote's own columns from the payload (not its status, not its lines); nothing is saved."""
    quote.number = payload.get("number") or quote.number
    quote.issue_date = parse_date(payload.get("date")) or quote.issue_date
    quote.valid_until = parse_date(payload.get("due_date")) or quote.valid_until
    quote.notes = payload.get("public_notes") or quote.notes


def apply_quote(connection, payload: dict, *, webhook_event=None, fetch_client=None, force=False) -> Quote | None:
    link = QuoteLink.objects.filter(connection=connection, external_id=payload["id"]).select_related("quote").first()
    if link is None:
        quote = _adopt(Quote, payload, "quote")
        if quote is not None:
            # The console created it: the hub is the source of this version, only link it.
            link, _created = QuoteLink.objects.get_or_create(connection=connection, quote=quote,
                                                             defaults={"external_id": payload["id"]})
            if _created:
                in_step(link, payload, number=payload.get("number", ""))
            return quote
        if payload.get("is_deleted"):
            return None
        company = company_for_client(connection, payload["client_id"], fetch=fetch_client)
        quote = Quote(company=company, currency=company.currency)  # inserted once, complete, by _write_quote
        _write_quote(quote, payload, webhook_event)
        note(quote, gettext_noop("Devis importé depuis Invoice Ninja."), params={}, webhook_event=webhook_event,
             invoiceninja_id=payload["id"])
        link = QuoteLink.objects.create(connection=connection, quote=quote, external_id=payload["id"])
        in_step(link, payload, number=payload.get("number", ""),
                          remote_state=remote_state(payload))
        return quote
    quote = link.quote
    reconcile(link, quote, payload, lambda: _write_quote(quote, payload, webhook_event), label=_("Devis"),
              webhook_event=webhook_event, force=force)
    return quote


def _write_invoice(invoice: Invoice, payload: dict, webhook_event):
    after_save = _status_changed(invoice, INVOICE_STATUSES.get(str(payload.get("status_id"))), webhook_event,
                                 payload["id"])
    fill_invoice(invoice, payload)
    _save_with_lines(invoice, payload)
    if after_save:
        after_save()


def fill_invoice(invoice: Invoice, payload: dict):
    """The invoice's own columns from the payload (not its status, not its lines); nothing is saved."""
    invoice.number = payload.get("number") or invoice.number
    invoice.issue_date = parse_date(payload.get("date")) or invoice.issue_date
    invoice.due_date = parse_date(payload.get("due_date")) or invoice.due_date
    invoice.notes = payload.get("public_notes") or invoice.notes
    invoice.amount_paid = money(decimal(payload.get("paid_to_date")))


def quote_of_remote_invoice(connection, payload: dict) -> Quote | None:
    """The hub quote a remote invoice was converted from: marker copied on conversion, or the quote mirror."""
    quote = _adopt(Quote, payload, "quote")
    if quote is not None:
        return quote
    mirror = QuoteMirror.objects.filter(connection=connection, invoice_id=payload["id"]).first()
    if mirror is None:
        return None
    link = QuoteLink.objects.filter(connection=connection, external_id=mirror.external_id).first()
    return link.quote if link else None


def invoice_from_converted_quote(connection, quote: Quote, payload: dict, *, webhook_event=None) -> Invoice:
    """The one hub invoice for a quote converted in Invoice Ninja; the action and the webhook both come here.

    The quote row is locked so that the two paths, racing, create a single invoice.
    """
    with transaction.atomic():
        quote = Quote.objects.select_for_update().get(pk=quote.pk)
        link = InvoiceLink.objects.filter(connection=connection, external_id=payload["id"]).select_related(
            "invoice").first()
        if link is not None:
            if link.invoice.quote_id is None:  # imported by a webhook that could not tell it came from this quote
                link.invoice.quote = quote
                link.invoice.save(update_fields=["quote", "updated_at"])
                in_step(link, payload)
            return link.invoice
        invoice = Invoice(company=quote.company, quote=quote, currency=quote.currency, title=quote.title,
                          notes=quote.notes)
        _write_invoice(invoice, payload, webhook_event)
        link = InvoiceLink.objects.create(connection=connection, invoice=invoice, external_id=payload["id"])
        in_step(link, payload, number=payload.get("number", ""))
        if quote.status != Quote.Status.CONVERTED:
            quote.status = Quote.Status.CONVERTED
            quote.save(update_fields=["status", "updated_at"])
            quote_link = QuoteLink.objects.filter(connection=connection, quote=quote).first()
            if quote_link and not quote_link.in_conflict:
                quote_link.last_synced_at = timezone.now()
                quote_link.save(update_fields=["last_synced_at"])
        note(quote, gettext_noop("Converti en facture %(number)s dans Invoice Ninja."),
             params={"number": invoice.number or "—"},
             level=TimelineEntry.Level.SUCCESS, webhook_event=webhook_event, invoiceninja_invoice_id=payload["id"])
        return invoice


def apply_invoice(connection, payload: dict, *, webhook_event=None, fetch_client=None, force=False) -> Invoice | None:
    link = InvoiceLink.objects.filter(connection=connection, external_id=payload["id"]).select_related("invoice").first()
    if link is None:
        invoice = _adopt(Invoice, payload, "invoice")
        if invoice is not None:
            link, created = InvoiceLink.objects.get_or_create(connection=connection, invoice=invoice,
                                                              defaults={"external_id": payload["id"]})
            if created:
                in_step(link, payload, number=payload.get("number", ""))
            return invoice
        quote = quote_of_remote_invoice(connection, payload)
        if quote is not None:
            return invoice_from_converted_quote(connection, quote, payload, webhook_event=webhook_event)
        if payload.get("is_deleted"):
            return None
        company = company_for_client(connection, payload["client_id"], fetch=fetch_client)
        invoice = Invoice(company=company, currency=company.currency)
        _write_invoice(invoice, payload, webhook_event)
        note(invoice, gettext_noop("Facture importée depuis Invoice Ninja."), params={}, webhook_event=webhook_event,
             invoiceninja_id=payload["id"])
        link = InvoiceLink.objects.create(connection=connection, invoice=invoice, external_id=payload["id"])
        in_step(link, payload, number=payload.get("number", ""),
                          remote_state=remote_state(payload))
        return invoice
    invoice = link.invoice
    reconcile(link, invoice, payload, lambda: _write_invoice(invoice, payload, webhook_event), label=_("Facture"),
              webhook_event=webhook_event, force=force)
    return invoice


# Payments ---------------------------------------------------------------------------------------
def apply_payment(connection, payload: dict, *, webhook_event=None, fetch_invoice=None) -> list[Payment]:
    """One hub Payment per invoice the payment pays; a deleted, cancelled or refunded one is removed."""
    paid_invoices = [p for p in payload.get("paymentables") or [] if p.get("invoice_id")]
    counts = not payload.get("is_deleted") and str(payload.get("status_id")) not in VOID_PAYMENT_STATUSES
    recorded = []
    for paymentable in paid_invoices:
        invoice_id = paymentable["invoice_id"]
        link = InvoiceLink.objects.filter(connection=connection, external_id=invoice_id).first()
        if link is None:
            if fetch_invoice is None:
                raise MissingDependency(f"Facture Invoice Ninja {invoice_id} inconnue de la console")
            apply_invoice(connection, fetch_invoice(invoice_id), webhook_event=webhook_event)
            link = InvoiceLink.objects.filter(connection=connection, external_id=invoice_id).first()
            if link is None:
                continue
        invoice = Invoice.objects.select_for_update().get(pk=link.invoice_id)
        external_id = payload["id"] if len(paid_invoices) == 1 else f"{payload['id']}:{invoice_id}"
        amount = money(decimal(paymentable.get("amount")) - decimal(paymentable.get("refunded")))
        existing = Payment.objects.filter(source=PAYMENT_SOURCE, external_id=external_id).first()

        def write(invoice=invoice, existing=existing, amount=amount, external_id=external_id):
            if counts and amount > 0:
                payment, created = Payment.objects.update_or_create(
                    source=PAYMENT_SOURCE, external_id=external_id,
                    defaults={"direction": Payment.Direction.INCOMING, "invoice": invoice, "amount": amount,
                              "currency": invoice.currency,
                              "date": parse_date(payload.get("date")) or timezone.localdate()},
                )
                recorded.append(payment)
                if created or existing.amount != amount:
                    note(invoice, gettext_noop("Paiement reçu via Invoice Ninja : %(amount)s (n° %(number)s)."),
                         params={"amount": TimelineEntry.money(amount, invoice.currency),
                                 "number": payload.get("number") or "—"},
                         level=TimelineEntry.Level.SUCCESS, webhook_event=webhook_event,
                         invoiceninja_payment_id=payload["id"])
            elif existing is not None:
                existing.delete()
                note(invoice, gettext_noop("Paiement %(number)s annulé ou supprimé dans Invoice Ninja."), params={
                    "number": payload.get("number") or payload["id"]}, level=TimelineEntry.Level.WARNING,
                    webhook_event=webhook_event, invoiceninja_payment_id=payload["id"])
            refresh_payment_state(invoice, webhook_event=webhook_event)

        in_step_after_console_write(link, invoice, write)
    return recorded


def refresh_payment_state(invoice: Invoice, *, webhook_event=None):
    paid = money(sum((p.amount for p in invoice.payments.filter(direction=Payment.Direction.INCOMING)), 0))
    if invoice.status == Invoice.Status.CANCELLED:
        status = invoice.status
    elif invoice.total > 0 and paid >= invoice.total:
        status = Invoice.Status.PAID
    elif paid > 0:
        status = Invoice.Status.PARTIAL
    elif invoice.status in (Invoice.Status.PAID, Invoice.Status.PARTIAL):
        status = Invoice.Status.SENT
    else:
        status = invoice.status
    if (status, paid) == (invoice.status, invoice.amount_paid):
        return
    became = status != invoice.status
    invoice.status, invoice.amount_paid = status, paid
    invoice.save(update_fields=["status", "amount_paid", "updated_at"])
    if became:
        note(invoice, gettext_noop("Facture « %(status)s » (payé : %(paid)s)."), params={
            "status": Invoice.Status(invoice.status).label, "paid": TimelineEntry.money(paid, invoice.currency)},
            level=TimelineEntry.Level.SUCCESS if status == Invoice.Status.PAID else TimelineEntry.Level.INFO,
            webhook_event=webhook_event)

