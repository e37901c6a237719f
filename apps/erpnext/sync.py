"""Pull of seven ERPNext doctypes into mirrors, incremental on `modified` (NOTES §8.1).

Each page is `GET /api/resource/<DocType>` with the resource's `fields`, `order_by=modified asc, name asc`
and `limit_page_length` always set. Paging is by key, not offset: after a page whose last row is
(M, N) the next asks `modified >= M` AND (`modified > M` OR `name > N`) (`filters` ANDed with
`or_filters`), so a row saved while the run pages moves ahead instead of shifting every later row, and no
row is listed twice. The checkpoint after each page is that (M, N); the final one is the high-water mark
the next incremental run starts from — with no change in ERPNext it asks once, gets nothing, writes nothing.

The daily overdue job changes `status` without bumping `modified` (NOTES §8.3), and deletions leave no
trace a list can show (§8.4): the nightly full pass (jobs.sync_full) lists every row again, so the kernel
rewrites changed rows and marks as deleted those it did not see. Cancelled documents stay (docstatus 2,
status Cancelled) and amendments arrive as new documents with `amended_from`.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from django.utils import timezone

from apps.core.models import SyncRun
from apps.core.sync import Page, SyncResource, upsert
from apps.erpnext import matching
from apps.erpnext.client import DEFAULT_PAGE_SIZE
from apps.erpnext.models import (
    BinMirror, CustomerMirror, ItemMirror, PaymentEntryMirror, PurchaseInvoiceMirror, SalesInvoiceMirror,
    SupplierMirror,
)

ORDER_BY = "modified asc, name asc"
STANDARD = ("name", "modified", "docstatus")


def parse_modified(value) -> datetime | None:
    """`modified` is naive site time with microseconds (NOTES §3.1); the site is taken to share our zone."""
    if not value:
        return None
    for layout in ("%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S"):
        try:
            return timezone.make_aware(datetime.strptime(str(value), layout))
        except ValueError:
            continue
    return None


class ERPNextResource(SyncResource):
    doctype: ClassVar[str]
    fields: ClassVar[tuple[str, ...]]
    page_size: ClassVar[int] = DEFAULT_PAGE_SIZE

    @classmethod
    def requested_fields(cls) -> list[str]:
        return list(dict.fromkeys([*STANDARD, *cls.fields]))

    def initial_checkpoint(self, kind, last_success):
        after = None
        if kind == SyncRun.Kind.INCREMENTAL and last_success:
            after = last_success.get("high_water")
        return {"after": after}

    def fetch_page(self, checkpoint):
        after = checkpoint.get("after")
        filters = or_filters = None
        if after:
            modified, name = after
            filters = [["modified", ">=", modified]]
            or_filters = [["modified", ">", modified], ["name", ">", name]]
        rows = self.client.list_documents(self.doctype, fields=self.requested_fields(), filters=filters,
                                          or_filters=or_filters, order_by=ORDER_BY,
                                          limit_page_length=self.page_size)
        if rows:
            after = [rows[-1]["modified"], rows[-1]["name"]]
        return Page(items=rows, checkpoint={"after": after}, done=len(rows) < self.page_size)

    def final_checkpoint(self, checkpoint):
        return {"high_water": checkpoint.get("after")}

    def external_id(self, item):
        return str(item["name"])

    def remote_updated_at(self, item):
        return parse_modified(item.get("modified"))

    def fetch_one(self, name: str) -> dict | None:
        """The same row a list would give (same fields, same content hash), or None if it is gone."""
        rows = self.client.list_documents(self.doctype, fields=self.requested_fields(),
                                          filters=[["name", "=", name]], order_by=ORDER_BY, limit_page_length=1)
        return rows[0] if rows else None


class CustomersResource(ERPNextResource):
    name = "customers"
    label = "Clients"
    doctype = "Customer"
    model = CustomerMirror
    fields = ("customer_name", "customer_type", "customer_group", "territory", "tax_id", "default_currency",
              "disabled", "is_frozen", "email_id")

    def apply(self, record):
        matching.match_party(self.connection, "Customer", record.payload)


class SuppliersResource(ERPNextResource):
    name = "suppliers"
    label = "Fournisseurs"
    doctype = "Supplier"
    model = SupplierMirror
    fields = ("supplier_name", "supplier_type", "supplier_group", "country", "default_currency", "tax_id",
              "disabled", "on_hold", "email_id")

    def apply(self, record):
        matching.match_party(self.connection, "Supplier", record.payload)


class SalesInvoicesResource(ERPNextResource):
    name = "sales_invoices"
    label = "Factures de vente"
    doctype = "Sales Invoice"
    model = SalesInvoiceMirror
    fields = ("customer", "customer_name", "posting_date", "due_date", "currency", "party_account_currency",
              "grand_total", "outstanding_amount", "status", "is_return", "amended_from")


class PurchaseInvoicesResource(ERPNextResource):
    name = "purchase_invoices"
    label = "Factures d'achat"
    doctype = "Purchase Invoice"
    model = PurchaseInvoiceMirror
    fields = ("supplier", "supplier_name", "bill_no", "posting_date", "due_date", "currency",
              "party_account_currency", "grand_total", "outstanding_amount", "status", "is_return", "amended_from")


class PaymentEntriesResource(ERPNextResource):
    name = "payment_entries"
    label = "Paiements"
    doctype = "Payment Entry"
    model = PaymentEntryMirror
    fields = ("payment_type", "posting_date", "party_type", "party", "party_name", "paid_amount",
              "received_amount", "paid_from_account_currency", "paid_to_account_currency", "reference_no",
              "status", "amended_from")


class ItemsResource(ERPNextResource):
    name = "items"
    label = "Articles"
    doctype = "Item"
    model = ItemMirror
    fields = ("item_code", "item_name", "item_group", "stock_uom", "is_stock_item", "disabled", "safety_stock")


class BinsResource(ERPNextResource):
    name = "bins"
    label = "Stock par entrepôt"
    doctype = "Bin"
    model = BinMirror
    fields = ("item_code", "warehouse", "actual_qty", "reserved_qty", "ordered_qty", "projected_qty", "stock_uom")


RESOURCES = (CustomersResource, SuppliersResource, ItemsResource, BinsResource, SalesInvoicesResource,
             PurchaseInvoicesResource, PaymentEntriesResource)
BY_DOCTYPE = {resource.doctype: resource for resource in RESOURCES}


def refresh_document(connection, doctype: str, name: str) -> str:
    """Read one document again (after a webhook) and mirror it; 'updated', 'unchanged' or 'deleted'."""
    resource = BY_DOCTYPE[doctype](connection, run=None)
    row = resource.fetch_one(name)
    now = timezone.now()
    if row is None:
        gone = resource.model.objects.filter(connection=connection, external_id=name, is_deleted=False)
        return "deleted" if gone.update(is_deleted=True, synced_at=now) else "unchanged"
    result = upsert(resource, [row], seen_at=now)
    for record in result.changed:
        resource.apply(record)
    return "updated" if result.changed else "unchanged"
