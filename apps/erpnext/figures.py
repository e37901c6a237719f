"""The numbers the ERPNext page and the company panel show, computed from the mirrors (never from ERPNext live).

Outstanding = submitted documents (docstatus 1) with a non-zero `outstanding_amount`, summed per currency
(`party_account_currency`, the currency ERPNext keeps outstanding in, NOTES §9). Cancelled (docstatus 2),
drafts and mirrors marked deleted never count. Age buckets count days past the due date; invoices not yet
due sit in the first bucket. Low stock: a bin below its item's safety stock (the catalogue's Item has no
reorder level column; its `reorder_levels` table lives in a child doctype the v15 catalogue does not cover),
or at zero or below.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from django.db.models import Q

from apps.erpnext.client import money
from apps.erpnext.models import BinMirror, ItemMirror, PurchaseInvoiceMirror, SalesInvoiceMirror
from apps.hub.models import Company, Invoice, SupplierBill

BUCKETS = (("0-30", 0, 30), ("31-60", 31, 60), ("61-90", 61, 90), ("90+", 91, None))
INVOICE_MIRRORS = {"Customer": (SalesInvoiceMirror, "customer"), "Supplier": (PurchaseInvoiceMirror, "supplier")}


def open_invoices(connection, party_type: str = "Customer", parties: list[str] | None = None):
    model, party_field = INVOICE_MIRRORS[party_type]
    queryset = model.objects.filter(connection=connection, is_deleted=False, payload__docstatus=1) \
        .exclude(Q(payload__outstanding_amount=0) | Q(payload__outstanding_amount__isnull=True))
    if parties is not None:
        queryset = queryset.filter(**{f"payload__{party_field}__in": parties})
    return queryset


def currency_of(payload: dict) -> str:
    return payload.get("party_account_currency") or payload.get("currency") or "?"


def erp_outstanding(connection, party_type: str, parties: list[str]) -> dict[str, Decimal]:
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for payload in open_invoices(connection, party_type, parties).values_list("payload", flat=True):
        totals[currency_of(payload)] += money(payload.get("outstanding_amount"))
    return dict(totals)


def console_outstanding(company: Company, party_type: str) -> dict[str, Decimal]:
    totals: dict[str, Decimal] = defaultdict(Decimal)
    if party_type == "Customer":
        unpaid = [Invoice.Status.SENT, Invoice.Status.PARTIAL]
        for invoice in Invoice.objects.filter(company=company, status__in=unpaid):
            totals[invoice.currency] += invoice.balance_due
    else:
        for bill in SupplierBill.objects.filter(supplier=company).exclude(status=SupplierBill.Status.PAID):
            totals[bill.currency] += bill.amount
    return dict(totals)


@dataclass
class Comparison:
    currency: str
    erp: Decimal
    console: Decimal

    @property
    def difference(self) -> Decimal:
        return self.erp - self.console

    @property
    def agrees(self) -> bool:
        return self.difference == 0


def compare(erp: dict[str, Decimal], console: dict[str, Decimal]) -> list[Comparison]:
    currencies = sorted(set(erp) | set(console))
    return [Comparison(c, erp.get(c, Decimal("0")), console.get(c, Decimal("0"))) for c in currencies]


@dataclass
class Ageing:
    currency: str
    buckets: dict[str, Decimal] = field(default_factory=lambda: {label: Decimal("0") for label, *_ in BUCKETS})
    counts: dict[str, int] = field(default_factory=lambda: {label: 0 for label, *_ in BUCKETS})

    @property
    def total(self) -> Decimal:
        return sum(self.buckets.values(), Decimal("0"))

    def rows(self):
        return [(label, self.counts[label], self.buckets[label]) for label, *_ in BUCKETS]

    def chart(self, width: int = 320, height: int = 120) -> list[dict]:
        """Bars of an inline SVG (drawn on the server: no script), one per bucket, scaled to the largest."""
        largest = max(self.buckets.values()) or Decimal("1")
        bar_width = width // len(BUCKETS)
        bars = []
        for index, (label, *_rest) in enumerate(BUCKETS):
            bar_height = int(Decimal(height - 20) * self.buckets[label] / largest)
            bars.append({"label": label, "x": index * bar_width + 6, "width": bar_width - 12,
                         "y": height - 16 - bar_height, "height": bar_height, "amount": self.buckets[label],
                         "text_x": index * bar_width + bar_width // 2, "text_y": height - 2})
        return bars


def bucket_for(days_past_due: int) -> str:
    for label, low, high in BUCKETS:
        if high is None or days_past_due <= high:
            return label
    return BUCKETS[-1][0]


def ageing(connection, today: date) -> list[Ageing]:
    by_currency: dict[str, Ageing] = {}
    for payload in open_invoices(connection).values_list("payload", flat=True):
        amount = money(payload.get("outstanding_amount"))
        if amount <= 0:
            continue  # credit notes and over-payments are not debts to chase
        currency = currency_of(payload)
        due = payload.get("due_date") or payload.get("posting_date")
        try:
            days = max((today - date.fromisoformat(str(due)[:10])).days, 0) if due else 0
        except ValueError:
            days = 0
        row = by_currency.setdefault(currency, Ageing(currency))
        label = bucket_for(days)
        row.buckets[label] += amount
        row.counts[label] += 1
    return [by_currency[c] for c in sorted(by_currency)]


@dataclass
class StockLine:
    item_code: str
    item_name: str
    warehouse: str
    actual: Decimal
    projected: Decimal
    safety: Decimal
    uom: str

    @property
    def is_low(self) -> bool:
        return self.actual <= 0 or (self.safety > 0 and self.actual < self.safety)


def stock_levels(connection, *, low_only: bool = False) -> list[StockLine]:
    items = {payload.get("item_code") or payload.get("name"): payload for payload in
             ItemMirror.objects.filter(connection=connection, is_deleted=False).values_list("payload", flat=True)}
    lines = []
    for payload in BinMirror.objects.filter(connection=connection, is_deleted=False).values_list("payload", flat=True):
        item = items.get(payload.get("item_code"), {})
        line = StockLine(item_code=payload.get("item_code") or "", item_name=item.get("item_name") or "",
                         warehouse=payload.get("warehouse") or "", actual=money(payload.get("actual_qty")),
                         projected=money(payload.get("projected_qty")), safety=money(item.get("safety_stock")),
                         uom=payload.get("stock_uom") or item.get("stock_uom") or "")
        if not low_only or line.is_low:
            lines.append(line)
    return sorted(lines, key=lambda line: (not line.is_low, line.item_code, line.warehouse))
