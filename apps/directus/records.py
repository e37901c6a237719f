"""Hub records as Directus items: the console's stable ids, the serialisation, the integration statuses.

Stable ids are `<type>-<hub primary key>` (`quote-42`): Directus has no upsert by field, so the mirror's
primary keys are these strings, set by the console. `integration_status` items share the id of the record
they describe.

Where each integration status comes from (also in the README):
- `stage`: the hub record's status (Quote / Invoice / SupplierBill `status`); a quote whose invoice is
  paid reads "payé", a converted one "facturé", an accepted one with a signed signature "signé".
- `payment_state`, `amount_due`: Invoice `status` and `amount_paid` (a quote: its invoices'); SupplierBill
  `status`.
- `signature_state`, `reminder_level`: no hub field holds them; they come from `StatusFacts`, fed by the
  kernel signal `apps.core.signals.integration_status_reported` that any system app may send.
"""

from __future__ import annotations

from decimal import Decimal

from apps.directus.models import StatusFacts
from apps.hub.models import Company, Contact, Invoice, Payment, Quote, SupplierBill

# collection key -> (hub model, id prefix)
MODELS = {
    "companies": (Company, "company"),
    "contacts": (Contact, "contact"),
    "quotes": (Quote, "quote"),
    "invoices": (Invoice, "invoice"),
    "payments": (Payment, "payment"),
    "supplier_bills": (SupplierBill, "supplier_bill"),
}
STATUS_TYPES = {"quote": Quote, "invoice": Invoice, "supplier_bill": SupplierBill}

QUOTE_STAGES = {
    Quote.Status.DRAFT: "brouillon", Quote.Status.SENT: "envoyé", Quote.Status.ACCEPTED: "accepté",
    Quote.Status.DECLINED: "refusé", Quote.Status.EXPIRED: "expiré", Quote.Status.CONVERTED: "facturé",
}
INVOICE_STAGES = {
    Invoice.Status.DRAFT: "brouillon", Invoice.Status.SENT: "envoyé", Invoice.Status.PARTIAL: "partiellement payé",
    Invoice.Status.PAID: "payé", Invoice.Status.CANCELLED: "annulé",
}
BILL_STAGES = {
    SupplierBill.Status.TO_PAY: "à payer", SupplierBill.Status.AWAITING_APPROVAL: "en attente d'approbation",
    SupplierBill.Status.PAYMENT_PENDING: "paiement en cours", SupplierBill.Status.PAID: "payé",
    SupplierBill.Status.PAYMENT_FAILED: "paiement en échec",
}


def stable_id(obj) -> str:
    for _key, (model, prefix) in MODELS.items():
        if isinstance(obj, model):
            return f"{prefix}-{obj.pk}"
    raise TypeError(type(obj).__name__)


def ref(obj) -> str:
    return stable_id(obj) if obj is not None else ""


def collection_of(obj) -> str | None:
    return next((key for key, (model, _prefix) in MODELS.items() if isinstance(obj, model)), None)


def parse_id(item_id: str) -> tuple[str, int] | None:
    prefix, _, number = str(item_id).rpartition("-")
    if not number.isdigit():
        return None
    return prefix, int(number)


def find(collection: str, item_id: str):
    """The hub record behind a mirror item, or None (not one of the console's ids, or deleted in the hub)."""
    parsed = parse_id(item_id)
    if parsed is None:
        return None
    prefix, pk = parsed
    if collection == "integration_status":
        model = STATUS_TYPES.get(prefix)
    else:
        model, expected = MODELS[collection]
        model = model if prefix == expected else None
    return model.objects.filter(pk=pk).first() if model else None


def is_console_id(collection: str, item_id: str) -> bool:
    parsed = parse_id(item_id)
    if parsed is None:
        return False
    if collection == "integration_status":
        return parsed[0] in STATUS_TYPES
    return parsed[0] == MODELS[collection][1]


def _money(value) -> str:
    return str(Decimal(value).quantize(Decimal("0.01")))


def _date(value) -> str | None:
    return value.isoformat() if value else None


def serialize(collection: str, obj) -> dict:
    """The item the console writes for a hub record (mirrored fields only, plus the id)."""
    if collection == "integration_status":
        return integration_status(obj)
    if collection == "companies":
        data = {f: getattr(obj, f) for f in ("name", "is_client", "is_supplier", "email", "phone", "vat_number",
                                             "address1", "postal_code", "city", "country_code", "currency")}
    elif collection == "contacts":
        data = {"company": f"company-{obj.company_id}", "first_name": obj.first_name, "last_name": obj.last_name,
                "email": obj.email, "phone": obj.phone, "is_primary": obj.is_primary}
    elif collection == "quotes":
        data = {"company": f"company-{obj.company_id}", "number": obj.number, "title": obj.title,
                "status": obj.status, "subtotal": _money(obj.subtotal), "total": _money(obj.total),
                "currency": obj.currency, "issue_date": _date(obj.issue_date), "valid_until": _date(obj.valid_until)}
    elif collection == "invoices":
        data = {"company": f"company-{obj.company_id}", "quote": f"quote-{obj.quote_id}" if obj.quote_id else "",
                "number": obj.number, "title": obj.title, "status": obj.status, "total": _money(obj.total),
                "amount_paid": _money(obj.amount_paid), "balance_due": _money(obj.balance_due),
                "currency": obj.currency, "issue_date": _date(obj.issue_date), "due_date": _date(obj.due_date)}
    elif collection == "payments":
        data = {"direction": obj.direction,
                "invoice": f"invoice-{obj.invoice_id}" if obj.invoice_id else "",
                "supplier_bill": f"supplier_bill-{obj.supplier_bill_id}" if obj.supplier_bill_id else "",
                "amount": _money(obj.amount), "currency": obj.currency, "date": _date(obj.date), "source": obj.source}
    elif collection == "supplier_bills":
        data = {"supplier": f"company-{obj.supplier_id}", "reference": obj.reference,
                "description": obj.description, "amount": _money(obj.amount), "currency": obj.currency,
                "status": obj.status, "issue_date": _date(obj.issue_date), "due_date": _date(obj.due_date),
                "paid_at": obj.paid_at.isoformat() if obj.paid_at else None}
    else:
        raise KeyError(collection)
    return {"id": stable_id(obj), **data}


# Integration statuses -------------------------------------------------------------------------------

def facts_for(obj) -> StatusFacts | None:
    record_type = stable_id(obj).rpartition("-")[0]
    return StatusFacts.objects.filter(record_type=record_type, record_id=obj.pk).first()


def integration_status(obj) -> dict:
    facts = facts_for(obj)
    signature_state = facts.signature_state if facts else ""
    reminder_level = facts.reminder_level if facts else 0
    if isinstance(obj, Quote):
        invoices = list(obj.invoices.all())
        stage = QUOTE_STAGES.get(obj.status, obj.status)
        if obj.status == Quote.Status.ACCEPTED and signature_state == "signé":
            stage = "signé"
        payment_state, amount_due = "", Decimal(0)
        live = [invoice for invoice in invoices if invoice.status != Invoice.Status.CANCELLED]
        if live:
            amount_due = sum((invoice.balance_due for invoice in live), Decimal(0))
            if all(invoice.status == Invoice.Status.PAID for invoice in live):
                payment_state = "payé"
                stage = "payé"
            elif any(invoice.amount_paid > 0 for invoice in live):
                payment_state = "partiellement payé"
            else:
                payment_state = "non payé"
            if stage not in ("payé",):
                stage = "facturé"
        return _status_row(obj, "devis", obj.company_id, stage, payment_state, signature_state, reminder_level,
                           amount_due, obj.currency)
    if isinstance(obj, Invoice):
        stage = INVOICE_STAGES.get(obj.status, obj.status)
        if obj.status == Invoice.Status.PAID:
            payment_state = "payé"
        elif obj.amount_paid > 0:
            payment_state = "partiellement payé"
        elif obj.status == Invoice.Status.DRAFT or obj.status == Invoice.Status.CANCELLED:
            payment_state = ""
        else:
            payment_state = "en retard" if obj.is_overdue else "non payé"
        return _status_row(obj, "facture", obj.company_id, stage, payment_state, signature_state, reminder_level,
                           obj.balance_due, obj.currency)
    if isinstance(obj, SupplierBill):
        payment_state = {SupplierBill.Status.PAID: "payé", SupplierBill.Status.PAYMENT_PENDING: "en cours",
                         SupplierBill.Status.PAYMENT_FAILED: "en échec"}.get(obj.status, "non payé")
        due = Decimal(0) if obj.status == SupplierBill.Status.PAID else obj.amount
        return _status_row(obj, "facture fournisseur", obj.supplier_id, BILL_STAGES.get(obj.status, obj.status),
                           payment_state, signature_state, reminder_level, due, obj.currency)
    raise TypeError(type(obj).__name__)


def _status_row(obj, record_type, company_id, stage, payment_state, signature_state, reminder_level, amount_due,
                currency) -> dict:
    return {
        "id": stable_id(obj), "record_type": record_type, "record": stable_id(obj), "number": str(obj),
        "company": f"company-{company_id}", "stage": stage, "payment_state": payment_state,
        "signature_state": signature_state, "reminder_level": reminder_level,
        "amount_due": _money(amount_due), "currency": currency,
    }


def affected_items(obj) -> list[tuple[str, object]]:
    """(collection, record) pairs whose item changes when `obj` changes: itself and the statuses it feeds."""
    collection = collection_of(obj)
    items = [(collection, obj)] if collection else []
    if isinstance(obj, (Quote, SupplierBill)):
        items.append(("integration_status", obj))
    elif isinstance(obj, Invoice):
        items.append(("integration_status", obj))
        if obj.quote_id:
            items.append(("integration_status", obj.quote))
    elif isinstance(obj, Payment):
        if obj.invoice_id:
            items.append(("integration_status", obj.invoice))
        if obj.supplier_bill_id:
            items.append(("integration_status", obj.supplier_bill))
    return items


def all_records(collection: str):
    if collection == "integration_status":
        for model in STATUS_TYPES.values():
            yield from model.objects.order_by("pk").iterator()
        return
    yield from MODELS[collection][0].objects.order_by("pk").iterator()
