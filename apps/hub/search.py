"""The header search: hub records found by name, number or a system's id, grouped by kind.

Each word typed must appear in one of a kind's searched fields (the admin list's own rule), case-insensitive.
A kind is searched only for people who may see its records. The hub knows no outside system: each system app
registers where its ids of a hub record live (`register_external_ids(Invoice, "invoiceninja_links__number")`).
"""

from dataclasses import dataclass
from functools import reduce
from operator import and_, or_

from django.db.models import Q
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.text import capfirst

from apps.core.console.access import may_view_record
from apps.core.numbers import format_money
from apps.hub.models import Company, Contact, Invoice, Payment, Quote, SupplierBill

MIN_LENGTH = 2
MAX_LENGTH = 100
PER_KIND = 10


@dataclass(frozen=True)
class Kind:
    model: type
    fields: tuple[str, ...]
    select_related: tuple[str, ...] = ()

    def url(self, obj) -> str:
        if isinstance(obj, Contact):  # contacts are edited on their company's page
            return reverse("admin:hub_company_change", args=[obj.company_id])
        return reverse(f"admin:hub_{self.model._meta.model_name}_change", args=[obj.pk])

    def list_url(self, text: str) -> str | None:
        if self.model is Contact:
            return None
        return reverse(f"admin:hub_{self.model._meta.model_name}_changelist") + "?" + urlencode({"q": text})


KINDS = (
    Kind(Company, ("name", "email", "vat_number", "registration_number")),
    Kind(Contact, ("first_name", "last_name", "email", "phone"), ("company",)),
    Kind(Quote, ("number", "title", "company__name"), ("company",)),
    Kind(Invoice, ("number", "title", "company__name"), ("company",)),
    Kind(SupplierBill, ("reference", "description", "supplier__name"), ("supplier",)),
    Kind(Payment, ("external_id", "invoice__number", "supplier_bill__reference"), ("invoice", "supplier_bill")),
)
_external_ids: dict[type, list[str]] = {}


def register_external_ids(model, *lookups: str) -> None:
    """`lookups` from `model` to a system's id or number of its records, searched like the record's own fields."""
    _external_ids.setdefault(model, []).extend(lookups)


def detail(obj) -> str:
    """What tells two hits apart: the client, the supplier, the amount, the date."""
    if isinstance(obj, Contact):
        return " — ".join(filter(None, [obj.company.name, obj.email]))
    if isinstance(obj, (Quote, Invoice)):
        return f"{obj.company} — {format_money(obj.total, obj.currency)} — {obj.get_status_display()}"
    if isinstance(obj, SupplierBill):
        return f"{format_money(obj.amount, obj.currency)} — {obj.get_status_display()}"
    if isinstance(obj, Payment):
        return " — ".join(filter(None, [f"{obj.date:%d/%m/%Y}", str(obj.invoice or obj.supplier_bill or ""),
                                        obj.external_id]))
    return obj.city if isinstance(obj, Company) else ""


def search(user, text: str) -> list[dict]:
    words = text.split()
    groups = []
    for kind in KINDS:
        if not may_view_record(user, kind.model):
            continue
        fields = (*kind.fields, *_external_ids.get(kind.model, ()))
        matches = reduce(and_, (reduce(or_, (Q(**{f"{field}__icontains": word}) for field in fields))
                                for word in words))
        ids = kind.model.objects.filter(matches).values("pk").distinct()
        found = kind.model.objects.filter(pk__in=ids)
        if kind.select_related:
            found = found.select_related(*kind.select_related)
        found = list(found[:PER_KIND + 1])
        if found:
            groups.append({
                "title": capfirst(kind.model._meta.verbose_name_plural),
                "hits": [{"label": str(obj), "url": kind.url(obj), "detail": detail(obj)} for obj in found[:PER_KIND]],
                "more_url": kind.list_url(text) if len(found) > PER_KIND else None,
            })
    return groups
