"""Tables and vendor-side operations of the ERPNext emulator. Never used outside the sandbox and the demo.

What ERPNext does on its side, as the notes describe it: saving bumps `modified` (a naive site-time string
with microseconds) and fires webhooks (`on_change`, `on_cancel`, `on_trash`); cancelling sets docstatus 2;
amending cancels and creates `<name>-1` with `amended_from`; deleting removes the row; the daily job sets
invoices Overdue **without** touching `modified` and without any webhook (NOTES §8.3). Webhook bodies are
`json.dumps(data)` signed with base64(HMAC-SHA256(secret, body)) in `X-Frappe-Webhook-Signature` (§10.4),
tried at most 3 times (§10.5).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import threading
import time
from datetime import date
from decimal import Decimal

import requests
from django.db import models, transaction
from django.utils import timezone

logger = logging.getLogger(__name__)

# Tests set this to False to deliver in the request thread right after commit.
DELIVER_IN_BACKGROUND = True
WEBHOOK_SIGNATURE_HEADER = "X-Frappe-Webhook-Signature"
UNPAID_STATUSES = {"Unpaid", "Partly Paid", "Overdue", "Unpaid and Discounted", "Partly Paid and Discounted",
                   "Overdue and Discounted"}


class SandboxSite(models.Model):
    """One emulated ERPNext site and its API user (key pair, which doctypes it may read or write)."""

    name = models.CharField(max_length=120)
    user = models.CharField(max_length=140, default="api-console@hypervisual.example")
    api_key = models.CharField(max_length=40, unique=True)
    api_secret = models.CharField(max_length=40)
    # Doctypes the API user may read; empty means every catalogued doctype.
    readable_doctypes = models.JSONField(default=list, blank=True)
    # Doctypes the API user may write (the console asks for none): `frappe.client.has_permission` says so.
    writable_doctypes = models.JSONField(default=list, blank=True)
    webhook_url = models.URLField(max_length=500, blank=True)
    webhook_secret = models.CharField(max_length=100, blank=True)
    company_currency = models.CharField(max_length=3, default="EUR")

    class Meta:
        verbose_name = "site sandbox ERPNext"
        verbose_name_plural = "sites sandbox ERPNext"

    def __str__(self):
        return self.name

    def can_read(self, doctype: str) -> bool:
        return not self.readable_doctypes or doctype in self.readable_doctypes


class SandboxDocument(models.Model):
    """One document of one doctype as ERPNext stores it; `data` holds its fields, standard ones included."""

    site = models.ForeignKey(SandboxSite, on_delete=models.CASCADE, related_name="documents")
    doctype = models.CharField(max_length=80)
    name = models.CharField(max_length=140)
    modified = models.CharField(max_length=26)
    docstatus = models.PositiveSmallIntegerField(default=0)
    data = models.JSONField(default=dict)

    class Meta:
        verbose_name = "document sandbox ERPNext"
        verbose_name_plural = "documents sandbox ERPNext"
        constraints = [models.UniqueConstraint(fields=["site", "doctype", "name"], name="erpnext_sandbox_unique")]
        indexes = [models.Index(fields=["site", "doctype", "modified", "name"], name="erpnext_sandbox_modified")]

    def __str__(self):
        return f"{self.doctype} {self.name}"


# Time ------------------------------------------------------------------------------------------------------------
_last_stamp = ""
_stamp_lock = threading.Lock()


def now_stamp() -> str:
    """Site time as Frappe serialises a Datetime: naive, microseconds; strictly increasing in this process."""
    global _last_stamp
    with _stamp_lock:
        stamp = timezone.localtime().strftime("%Y-%m-%d %H:%M:%S.%f")
        if stamp <= _last_stamp:
            stamp = _bump(_last_stamp)
        _last_stamp = stamp
        return stamp


def _bump(stamp: str) -> str:
    from datetime import datetime, timedelta

    return (datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S.%f") + timedelta(microseconds=1)).strftime(
        "%Y-%m-%d %H:%M:%S.%f")


def site_today() -> date:
    return timezone.localdate()


# Saving ----------------------------------------------------------------------------------------------------------
def save_document(site: SandboxSite, doctype: str, name: str, changes: dict, *, event: str = "on_change",
                  modified: str | None = None) -> SandboxDocument:
    """Insert or update one document as ERPNext's save does: `modified` bumped, webhooks after commit."""
    stamp = modified or now_stamp()
    document = SandboxDocument.objects.filter(site=site, doctype=doctype, name=name).first()
    if document is None:
        document = SandboxDocument(site=site, doctype=doctype, name=name,
                                   data={"name": name, "owner": "Administrator", "creation": stamp, "idx": 0,
                                         "docstatus": 0})
    data = {**document.data, **changes, "name": name, "modified": stamp, "modified_by": "Administrator"}
    document.data = data
    document.modified = stamp
    document.docstatus = int(data.get("docstatus") or 0)
    document.save()
    send_webhook_on_commit(site, document, event)
    return document


def cancel(site: SandboxSite, doctype: str, name: str) -> SandboxDocument:
    return save_document(site, doctype, name, {"docstatus": 2, "status": "Cancelled"}, event="on_cancel")


def amend(site: SandboxSite, doctype: str, name: str, changes: dict) -> SandboxDocument:
    """Cancel `name` and create `<name>-1` (or the next free number) pointing back with `amended_from`."""
    original = SandboxDocument.objects.get(site=site, doctype=doctype, name=name)
    cancel(site, doctype, name)
    root, number = name, 1
    if "-" in name and name.rsplit("-", 1)[1].isdigit() and original.data.get("amended_from"):
        root, number = name.rsplit("-", 1)[0], int(name.rsplit("-", 1)[1]) + 1
    new_name = f"{root}-{number}"
    data = {key: value for key, value in original.data.items() if key not in ("name", "modified", "creation")}
    data.update(changes, docstatus=1, amended_from=name)
    data["status"] = invoice_status(data) if doctype in ("Sales Invoice", "Purchase Invoice") else data.get("status")
    return save_document(site, doctype, new_name, data, event="on_submit")


def delete(site: SandboxSite, doctype: str, name: str) -> None:
    document = SandboxDocument.objects.get(site=site, doctype=doctype, name=name)
    send_webhook_on_commit(site, document, "on_trash")  # before removal, as Frappe does
    document.delete()


def invoice_status(data: dict, today: date | None = None) -> str:
    """Status of a submitted invoice from its amounts and due date (what set_status computes, simplified)."""
    if int(data.get("docstatus") or 0) == 2:
        return "Cancelled"
    if int(data.get("docstatus") or 0) == 0:
        return "Draft"
    outstanding = Decimal(str(data.get("outstanding_amount") or 0))
    total = Decimal(str(data.get("grand_total") or 0))
    if outstanding <= 0:
        return "Paid"
    due = data.get("due_date")
    if due and due < (today or site_today()).isoformat():
        return "Overdue"
    return "Partly Paid" if outstanding < total else "Unpaid"


def record_payment(site: SandboxSite, invoice_name: str, amount: Decimal, *, doctype: str = "Sales Invoice",
                   posting_date: date | None = None) -> SandboxDocument:
    """A submitted Payment Entry against an invoice; the invoice's outstanding and status follow (modified bumps)."""
    invoice = SandboxDocument.objects.get(site=site, doctype=doctype, name=invoice_name)
    data = invoice.data
    posting = (posting_date or site_today()).isoformat()
    count = SandboxDocument.objects.filter(site=site, doctype="Payment Entry").count() + 1
    receive = doctype == "Sales Invoice"
    party_type = "Customer" if receive else "Supplier"
    party = data.get("customer") if receive else data.get("supplier")
    payment = save_document(site, "Payment Entry", f"ACC-PAY-{posting[:4]}-{count:05d}", {
        "payment_type": "Receive" if receive else "Pay", "posting_date": posting, "company": data.get("company"),
        "mode_of_payment": "Virement bancaire", "party_type": party_type, "party": party,
        "party_name": data.get("customer_name") if receive else data.get("supplier_name"),
        "paid_amount": float(amount), "received_amount": float(amount),
        "paid_from_account_currency": data.get("currency"), "paid_to_account_currency": data.get("currency"),
        "total_allocated_amount": float(amount), "unallocated_amount": 0.0, "reference_no": invoice_name,
        "reference_date": posting, "docstatus": 1, "status": "Submitted",
    }, event="on_submit")
    outstanding = max(Decimal(str(data.get("outstanding_amount") or 0)) - amount, Decimal("0"))
    changes = {"outstanding_amount": float(outstanding),
               "paid_amount": float(Decimal(str(data.get("paid_amount") or 0)) + amount)}
    save_document(site, doctype, invoice_name, {**changes, "status": invoice_status({**data, **changes})})
    return payment


def run_daily_overdue(site: SandboxSite, today: date | None = None) -> int:
    """ERPNext's daily `update_invoice_status`: one bulk update, `modified` untouched, no webhook (NOTES §8.3)."""
    today = today or site_today()
    changed = []
    for document in SandboxDocument.objects.filter(site=site, doctype__in=["Sales Invoice", "Purchase Invoice"],
                                                   docstatus=1):
        data = document.data
        if data.get("status") in UNPAID_STATUSES and data.get("due_date") and data["due_date"] < today.isoformat() \
                and Decimal(str(data.get("outstanding_amount") or 0)) > 0 and data.get("status") != "Overdue":
            document.data = {**data, "status": "Overdue"}
            changed.append(document)
    SandboxDocument.objects.bulk_update(changed, ["data"], batch_size=500)
    return len(changed)


# Webhooks --------------------------------------------------------------------------------------------------------
def webhook_body(document: SandboxDocument, event: str) -> bytes:
    """What a Webhook with this JSON template renders (NOTES §10.4: the names the hub should ask for):
    {"doctype": "{{ doc.doctype }}", "name": "{{ doc.name }}", "modified": "{{ doc.modified }}", "event": "..."}"""
    data = {"doctype": document.doctype, "name": document.name, "modified": document.modified, "event": event}
    return json.dumps(data).encode("utf8")


def sign(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode("utf8"), body, hashlib.sha256).digest()).decode()


def send_webhook_on_commit(site: SandboxSite, document: SandboxDocument, event: str) -> None:
    if not site.webhook_url:
        return
    body = webhook_body(document, event)
    headers = {"Content-Type": "application/json"}
    if site.webhook_secret:
        headers[WEBHOOK_SIGNATURE_HEADER] = sign(site.webhook_secret, body)
    url = site.webhook_url

    def deliver():
        if DELIVER_IN_BACKGROUND:
            threading.Thread(target=_post_with_retries, args=(url, body, headers), daemon=True).start()
        else:
            _post_with_retries(url, body, headers, pause=lambda seconds: None)

    transaction.on_commit(deliver)


def _post_with_retries(url: str, body: bytes, headers: dict, pause=time.sleep) -> bool:
    """At most 3 attempts, then nothing (NOTES §10.5: no later retry in v15)."""
    for wait in (1, 4, 7):
        try:
            response = requests.post(url, data=body, headers=headers, timeout=5)
            response.raise_for_status()
            return True
        except requests.RequestException as exc:
            logger.info("Webhook sandbox ERPNext en échec (%s)", type(exc).__name__)
            pause(wait)
    return False
