"""Stateful emulator of the Invoice Ninja v5 API, mounted under /sandbox/invoiceninja/ when SANDBOX is on.

Faithful to NOTES.md where the console depends on it: `X-API-TOKEN` (403 `Invalid token`), hashed
string ids, the `{"data": …, "meta": {"pagination": …}}` envelope, creates answering 200, 400 for an
unknown id, 422 `{"message", "errors": {field: [..]}}`, lists without `status` including archived and
deleted rows, string status ids, the one-second duplicate guard (400 `Duplicate request`) on invoice
bulk actions and payments, quote approve/convert, e-mail (marks sent, fires sent_*), PDF download and
webhook registrations. Registered webhooks are delivered as the bare entity JSON with the registered
headers, after the response, from a background thread (`DELIVER_IN_BACKGROUND`); a 404/405/410 answer
archives the registration, as the vendor does. Payment events are sent at once (the vendor waits 20 s).

Two small HTML pages let a person act as the client: approve a quote, record a payment.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from urllib.parse import quote as url_quote
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

import requests
from django.db import close_old_connections, transaction
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import re_path, reverse

from apps.core.sandbox import sandbox_view
from apps.invoiceninja.sandbox_state import SandboxAccount, SandboxRecord, hashed_id
from apps.invoiceninja.webhooks import EVENT_IDS

logger = logging.getLogger(__name__)

app_name = "invoiceninja_sandbox"

# Tests switch this off to deliver webhooks synchronously, right after the transaction commits.
DELIVER_IN_BACKGROUND = True
DELIVERY_TIMEOUT = 10
DUPLICATE_WINDOW_SECONDS = 1.0
ENTITIES = {"clients": "client", "quotes": "quote", "invoices": "invoice", "payments": "payment",
            "webhooks": "webhook"}
VALID_EVENT_IDS = set(range(1, 66))
EMAIL_TEMPLATES = {
    "email_template_invoice", "email_template_quote", "email_template_credit", "email_template_payment",
    "email_template_payment_partial", "email_template_statement", "email_template_reminder1",
    "email_template_reminder2", "email_template_reminder3", "email_template_reminder_endless",
    "email_template_custom1", "email_template_custom2", "email_template_custom3",
    "email_template_purchase_order", "email_quote_template_reminder1",
}
CENT = Decimal("0.01")


class SandboxError(Exception):
    def __init__(self, status: int, message: str, errors: dict | None = None, body=None):
        super().__init__(message)
        self.status, self.message, self.errors, self.body = status, message, errors, body

    def response(self, request):
        if self.status == 422 and not expects_json(request):
            # Laravel without a JSON-expecting request redirects back instead (NOTES §4).
            return HttpResponse(status=302, headers={"Location": request.build_absolute_uri("/")})
        if self.body is not None:
            return JsonResponse(self.body, status=self.status, safe=False)
        body = {"message": self.message}
        if self.errors is not None or self.status in (403, 422):
            body["errors"] = self.errors or {}
        return JsonResponse(body, status=self.status)


def invalid(**errors) -> SandboxError:
    return SandboxError(422, "The given data was invalid.", {field: [msg] for field, msg in errors.items()})


def not_found() -> SandboxError:
    return SandboxError(400, "No query results for model.")


def expects_json(request) -> bool:
    return request.headers.get("X-Requested-With") == "XMLHttpRequest" or \
        "json" in request.headers.get("Accept", "")


def now() -> int:
    return int(time.time())


def amount(value) -> Decimal:
    try:
        parsed = Decimal(str(value if value not in (None, "") else 0))
    except InvalidOperation:
        parsed = None
    if parsed is None or not parsed.is_finite():  # "NaN" and "Infinity" parse, then break every comparison
        raise invalid(amount="The amount must be a number.")
    return parsed


def to_float(value: Decimal) -> float:
    # The vendor serialises amounts with PHP (float) casts; stored the same way here.
    return float(value.quantize(CENT, rounding=ROUND_HALF_UP))


def json_body(request) -> dict:
    if not request.body:
        return {}
    try:
        body = json.loads(request.body, parse_float=Decimal)
    except ValueError:
        raise SandboxError(400, "Malformed JSON") from None
    if not isinstance(body, dict):
        raise invalid(body="The body must be an object.")
    return body


def valid_date(value) -> bool:
    try:
        date.fromisoformat(value)
        return len(value) == 10
    except (TypeError, ValueError):
        return False


# Storage helpers -------------------------------------------------------------------------------
def records(account, kind):
    return SandboxRecord.objects.filter(account=account, kind=kind)


def get_record(account, kind, record_id, *, lock=False) -> SandboxRecord:
    queryset = records(account, kind)
    if lock:
        queryset = queryset.select_for_update()
    record = queryset.filter(hashed_id=record_id).first()
    if record is None:
        raise not_found()
    return record


def touch(record: SandboxRecord, **fields):
    record.data = {**record.data, **fields}
    record.updated_at = max(now(), record.updated_at)
    record.save()


def next_number(account, kind) -> str:
    taken = set(records(account, kind).values_list("data__number", flat=True))
    sequence = records(account, kind).count() + 1
    while f"{sequence:04d}" in taken:
        sequence += 1
    return f"{sequence:04d}"


def number_taken(account, kind, number, exclude_pk=None) -> bool:
    queryset = records(account, kind).filter(data__number=number)
    if exclude_pk:
        queryset = queryset.exclude(pk=exclude_pk)
    return queryset.exists()


def create_record(account, kind, data) -> SandboxRecord:
    stamp = now()
    while True:
        new_id = hashed_id()
        if not records(account, kind).filter(hashed_id=new_id).exists():
            break
    return SandboxRecord.objects.create(account=account, kind=kind, hashed_id=new_id, data=data,
                                        created_at=stamp, updated_at=stamp)


def check_duplicate(account: SandboxAccount, guard: str):
    """The vendor's one-second duplicate guard (NOTES §6): rejects, and does not reset the window."""
    account = SandboxAccount.objects.select_for_update().get(pk=account.pk)
    last = account.guards.get(guard, 0)
    current = time.time()
    if current - last < DUPLICATE_WINDOW_SECONDS:
        raise SandboxError(400, "Duplicate request")
    account.guards = {key: value for key, value in account.guards.items() if current - value < 60}
    account.guards[guard] = current
    account.save(update_fields=["guards"])


# Serialisation (transformers) ------------------------------------------------------------------
def base_json(record: SandboxRecord) -> dict:
    return {"id": record.hashed_id, "user_id": "SandboxUsr", "assigned_user_id": "", "created_at": record.created_at,
            "updated_at": record.updated_at, "archived_at": record.archived_at, "is_deleted": record.is_deleted}


def client_json(record):
    data = record.data
    return {
        **base_json(record),
        "name": data.get("name", ""), "number": data.get("number", ""), "website": "",
        "private_notes": data.get("private_notes", ""), "public_notes": data.get("public_notes", ""),
        "client_hash": data.get("client_hash", ""), "address1": data.get("address1", ""), "address2": "",
        "city": data.get("city", ""), "state": "", "postal_code": data.get("postal_code", ""),
        "phone": data.get("phone", ""), "country_id": str(data.get("country_id", "250")),
        "vat_number": data.get("vat_number", ""), "id_number": data.get("id_number", ""),
        "balance": data.get("balance", 0.0), "paid_to_date": data.get("paid_to_date", 0.0),
        "credit_balance": 0.0, "payment_balance": 0.0, "group_settings_id": "", "is_tax_exempt": False,
        "has_valid_vat_number": False, "classification": "", "routing_id": "",
        "settings": {"currency_id": str(data.get("currency_id", "3"))},
        "contacts": data.get("contacts", []), "documents": [], "gateway_tokens": [],
    }


def document_json(record):
    data = record.data
    status = str(data.get("status_id", "1"))
    if record.kind == "quote" and status == "2" and not record.is_deleted and data.get("due_date") \
            and data["due_date"] <= date.today().isoformat():
        status = "-1"  # computed "expired" status, returned by the API (NOTES §13)
    body = {
        **base_json(record),
        "entity_type": record.kind, "client_id": data["client_id"], "status_id": status,
        "number": data.get("number", ""), "po_number": data.get("po_number", ""),
        "date": data.get("date", ""), "due_date": data.get("due_date", ""),
        "terms": data.get("terms", ""), "footer": data.get("footer", ""),
        "public_notes": data.get("public_notes", ""), "private_notes": data.get("private_notes", ""),
        "line_items": data.get("line_items", []), "invitations": data.get("invitations", []),
        "amount": data.get("amount", 0.0), "balance": data.get("balance", 0.0),
        "paid_to_date": data.get("paid_to_date", 0.0), "total_taxes": data.get("total_taxes", 0.0),
        "discount": 0.0, "partial": 0.0, "is_amount_discount": False, "uses_inclusive_taxes": False,
        "tax_name1": "", "tax_rate1": 0.0, "tax_name2": "", "tax_rate2": 0.0, "tax_name3": "", "tax_rate3": 0.0,
        "exchange_rate": 1.0, "project_id": "", "vendor_id": "", "design_id": "", "documents": [],
    }
    if data.get("last_sent_date"):
        body["last_sent_date"] = data["last_sent_date"]
    if record.kind == "quote":
        body["invoice_id"] = data.get("invoice_id", "")
    return body


def payment_json(record):
    data = record.data
    return {
        **base_json(record),
        "client_id": data["client_id"], "amount": data.get("amount", 0.0), "applied": data.get("applied", 0.0),
        "refunded": data.get("refunded", 0.0), "date": data.get("date", ""), "type_id": str(data.get("type_id", "1")),
        "status_id": str(data.get("status_id", "4")), "transaction_reference": data.get("transaction_reference", ""),
        "number": data.get("number", ""), "is_manual": True, "private_notes": data.get("private_notes", ""),
        "currency_id": "3", "exchange_rate": 1.0, "idempotency_key": data.get("idempotency_key", ""),
        "paymentables": data.get("paymentables", []), "documents": [],
    }


def webhook_json(record):
    data = record.data
    return {
        **base_json(record), "company_id": "SandboxCo1", "event_id": str(data["event_id"]),
        "target_url": data["target_url"], "format": data.get("format", "JSON"),
        "rest_method": data.get("rest_method", "post"), "headers": data.get("headers") or [],
    }


SERIALIZERS = {"client": client_json, "quote": document_json, "invoice": document_json, "payment": payment_json,
               "webhook": webhook_json}


def serialize(record) -> dict:
    return SERIALIZERS[record.kind](record)


def item_response(record) -> JsonResponse:
    return JsonResponse({"data": serialize(record)})


# Webhook deliveries ----------------------------------------------------------------------------
def fire(record: SandboxRecord, event: str):
    """Queue `event` about `record`; delivered after commit with the record's state at that time."""
    transaction.on_commit(lambda: dispatch(record.account_id, event, record.kind, record.pk))


def dispatch(account_id, event, kind, record_pk):
    if DELIVER_IN_BACKGROUND:
        threading.Thread(target=_deliver_in_thread, args=(account_id, event, kind, record_pk), daemon=True).start()
    else:
        deliver(account_id, event, kind, record_pk)


def _deliver_in_thread(*args):
    try:
        deliver(*args)
    finally:
        close_old_connections()


def delivery_payload(record: SandboxRecord) -> dict:
    """The bare entity, with the includes the vendor's observers add (NOTES §14.3)."""
    payload = serialize(record)
    if record.kind in ("quote", "invoice") and "client_id" in record.data:
        client = records(record.account, "client").filter(hashed_id=record.data["client_id"]).first()
        if client:
            payload["client"] = client_json(client)
    if record.kind == "payment":
        ids = [p["invoice_id"] for p in record.data.get("paymentables", []) if p.get("invoice_id")]
        payload["invoices"] = [document_json(r) for r in records(record.account, "invoice").filter(hashed_id__in=ids)]
        client = records(record.account, "client").filter(hashed_id=record.data["client_id"]).first()
        if client:
            payload["client"] = client_json(client)
    return payload


def deliver(account_id, event, kind, record_pk) -> list[int | None]:
    record = SandboxRecord.objects.filter(pk=record_pk).select_related("account").first()
    if record is None:
        return []
    hooks = SandboxRecord.objects.filter(account_id=account_id, kind="webhook", archived_at=0, is_deleted=False,
                                         data__event_id=str(EVENT_IDS.get(event, event)))
    statuses = []
    body = json.dumps(delivery_payload(record))
    for hook in hooks:
        headers = {"Content-Type": "application/json", "Accept": "application/json",
                   **(hook.data.get("headers") or {})}
        method = hook.data.get("rest_method", "post").upper()
        try:
            answer = requests.request(method, hook.data["target_url"], data=body, headers=headers,
                                      timeout=DELIVERY_TIMEOUT)
            statuses.append(answer.status_code)
            if answer.status_code in (404, 405, 410):
                # The vendor archives a registration whose target answers 404/405/410 (NOTES §14.4).
                hook.archived_at = now()
                hook.save(update_fields=["archived_at"])
        except requests.RequestException as exc:
            statuses.append(None)
            logger.info("Sandbox Invoice Ninja : webhook %s vers %s en échec : %s", event,
                        hook.data["target_url"], exc)
    return statuses


# Business rules --------------------------------------------------------------------------------
def compute_lines(raw_items) -> tuple[list[dict], Decimal, Decimal]:
    if raw_items is None:
        raw_items = []
    if not isinstance(raw_items, list):
        raise invalid(line_items="The line items must be an array.")
    items, net_total, tax_total = [], Decimal(0), Decimal(0)
    for raw in raw_items:
        quantity, cost, rate = amount(raw.get("quantity", 1)), amount(raw.get("cost", 0)), amount(raw.get("tax_rate1", 0))
        line_total = (quantity * cost).quantize(CENT, rounding=ROUND_HALF_UP)
        tax = (line_total * rate / 100).quantize(CENT, rounding=ROUND_HALF_UP)
        net_total += line_total
        tax_total += tax
        items.append({
            "product_key": str(raw.get("product_key", "")), "notes": str(raw.get("notes", "")),
            "quantity": float(quantity), "cost": float(cost), "product_cost": 0.0, "discount": 0.0,
            "is_amount_discount": False, "tax_name1": str(raw.get("tax_name1", "")), "tax_rate1": float(rate),
            "tax_name2": "", "tax_rate2": 0.0, "tax_name3": "", "tax_rate3": 0.0, "sort_id": "0",
            "line_total": to_float(line_total), "gross_line_total": to_float(line_total + tax),
            "tax_amount": to_float(tax), "custom_value1": "", "custom_value2": "", "custom_value3": "",
            "custom_value4": "", "type_id": str(raw.get("type_id", "1")), "tax_id": "1",
        })
    return items, net_total, tax_total


def live_client(account, client_id):
    if not client_id:
        raise invalid(client_id="The client id field is required.")
    client = records(account, "client").filter(hashed_id=str(client_id), is_deleted=False).first()
    if client is None:
        raise invalid(client_id="The selected client id is invalid.")
    return client


def invitations_for(client: SandboxRecord, kind: str) -> list[dict]:
    return [
        {"id": hashed_id(), "client_contact_id": contact["id"], "key": hashed_id() + hashed_id() + hashed_id(),
         "link": f"/client/{kind}/{contact['id']}", "created_at": now(), "updated_at": now(), "archived_at": 0}
        for contact in client.data.get("contacts", []) if contact.get("send_email") and contact.get("email")
    ]


def document_fields(account, kind, body, *, existing: SandboxRecord | None = None) -> dict:
    data = dict(existing.data) if existing else {}
    if existing is None or "client_id" in body:
        client = live_client(account, body.get("client_id"))
        data["client_id"] = client.hashed_id
    for field in ("date", "due_date"):
        if body.get(field):
            if not valid_date(body[field]):
                raise invalid(**{field: f"The {field.replace('_', ' ')} does not match the format Y-m-d."})
            data[field] = body[field]
    if "number" in body and body["number"]:
        if number_taken(account, kind, body["number"], exclude_pk=existing.pk if existing else None):
            raise invalid(number="The number has already been taken.")
        data["number"] = str(body["number"])
    for field in ("public_notes", "private_notes", "terms", "footer", "po_number"):
        if field in body:
            data[field] = str(body[field] or "")
    if existing is None or "line_items" in body:
        items, net, tax = compute_lines(body.get("line_items"))
        total = net + tax
        data.update(line_items=items, amount=to_float(total), total_taxes=to_float(tax),
                    balance=to_float(total - amount(data.get("paid_to_date", 0))))
    return data


def contacts_for(body_contacts, existing_contacts=None) -> list[dict]:
    if body_contacts is None:
        return existing_contacts or [blank_contact({})]
    if not isinstance(body_contacts, list):
        raise invalid(contacts="The contacts must be an array.")
    emails = [c.get("email") for c in body_contacts if c.get("email")]
    for index, email in enumerate(emails):
        if "@" not in email or "." not in email.split("@")[-1]:
            raise invalid(**{f"contacts.{index}.email": "The contacts.%d.email must be a valid email address." % index})
    if len(set(e.lower() for e in emails)) != len(emails):
        raise invalid(contacts="The contacts emails must be distinct.")
    by_id = {c["id"]: c for c in existing_contacts or []}
    result = []
    for raw in body_contacts:
        contact = dict(by_id.get(raw.get("id"), {})) if raw.get("id") in by_id else blank_contact({})
        for field in ("first_name", "last_name", "email", "phone"):
            if field in raw:
                contact[field] = str(raw[field] or "")
        if "send_email" in raw:
            contact["send_email"] = bool(raw["send_email"])
        contact["updated_at"] = now()
        result.append(contact)
    if not result:
        result = [blank_contact({})]
    result[0]["is_primary"] = True
    if not any(c.get("send_email") for c in result):
        result[0]["send_email"] = True
    return result


def blank_contact(raw) -> dict:
    return {"id": hashed_id(), "first_name": "", "last_name": "", "email": "", "phone": "", "is_primary": False,
            "send_email": True, "contact_key": hashed_id() + hashed_id(), "confirmed": True, "is_locked": False,
            "cc_only": False, "can_sign": False, "custom_value1": "", "custom_value2": "", "custom_value3": "",
            "custom_value4": "", "created_at": now(), "updated_at": now()}


def client_fields(body, existing=None) -> dict:
    data = dict(existing.data) if existing else {"balance": 0.0, "paid_to_date": 0.0, "client_hash": hashed_id() * 4}
    for field in ("name", "vat_number", "address1", "postal_code", "city", "phone", "private_notes",
                  "public_notes", "id_number"):
        if field in body:
            data[field] = str(body[field] or "")
    if body.get("country_id"):
        data["country_id"] = str(body["country_id"])
    elif body.get("country_code") == "FR" or existing is None:
        data.setdefault("country_id", "250")
    currency = (body.get("settings") or {}).get("currency_id") or {"USD": "1", "GBP": "2", "EUR": "3"}.get(
        body.get("currency_code", ""))
    if currency:
        data["currency_id"] = str(currency)
    data["contacts"] = contacts_for(body.get("contacts"), data.get("contacts")) if (
        existing is None or "contacts" in body) else data["contacts"]
    return data


def mark_sent(record: SandboxRecord) -> bool:
    if str(record.data.get("status_id")) != "1":
        return False
    touch(record, status_id="2", last_sent_date=date.today().isoformat())
    return True


def email(record: SandboxRecord):
    mark_sent(record)
    touch(record, last_sent_date=date.today().isoformat())
    fire(record, f"update_{record.kind}")
    fire(record, f"sent_{record.kind}")


def approve(record: SandboxRecord) -> bool:
    if str(record.data.get("status_id")) not in ("1", "2") or record.is_deleted:
        return False
    touch(record, status_id="3")
    fire(record, "approve_quote")
    fire(record, "update_quote")
    return True


def convert(quote: SandboxRecord) -> SandboxRecord | None:
    if quote.data.get("invoice_id") or str(quote.data.get("status_id")) not in ("1", "2", "3") or quote.is_deleted:
        return None
    data = {key: quote.data[key] for key in ("client_id", "line_items", "amount", "total_taxes")}
    data.update({key: quote.data.get(key, "") for key in ("public_notes", "private_notes", "terms", "footer",
                                                          "po_number")})
    data.update(status_id="1", number=next_number(quote.account, "invoice"), date=date.today().isoformat(),
                balance=quote.data.get("amount", 0.0), paid_to_date=0.0,
                invitations=[dict(inv, id=hashed_id(), key=hashed_id() * 3) for inv in quote.data.get("invitations", [])])
    invoice = create_record(quote.account, "invoice", data)
    touch(quote, status_id="4", invoice_id=invoice.hashed_id)
    fire(invoice, "create_invoice")
    fire(quote, "update_quote")
    return invoice


def apply_payment_to_invoice(invoice: SandboxRecord, paid: Decimal):
    paid_to_date = amount(invoice.data.get("paid_to_date")) + paid
    balance = amount(invoice.data.get("amount")) - paid_to_date
    status = "4" if balance <= 0 else ("3" if paid_to_date > 0 else "2")
    touch(invoice, paid_to_date=to_float(paid_to_date), balance=to_float(max(balance, Decimal(0))), status_id=status)
    fire(invoice, "update_invoice")


def create_payment(account, client: SandboxRecord, allocations: list[tuple[SandboxRecord, Decimal]], *,
                   total: Decimal | None = None, reference="", idempotency_key="", type_id="1") -> SandboxRecord:
    total = total if total is not None else sum((a for _, a in allocations), Decimal(0))
    applied = sum((a for _, a in allocations), Decimal(0))
    payment = create_record(account, "payment", {
        "client_id": client.hashed_id, "amount": to_float(total), "applied": to_float(applied), "refunded": 0.0,
        "date": date.today().isoformat(), "type_id": type_id, "status_id": "4", "transaction_reference": reference,
        "number": next_number(account, "payment"), "idempotency_key": idempotency_key,
        "paymentables": [{"id": hashed_id(), "invoice_id": invoice.hashed_id, "credit_id": "",
                          "amount": to_float(value), "refunded": 0.0, "created_at": now(), "updated_at": now()}
                         for invoice, value in allocations],
    })
    for invoice, value in allocations:
        apply_payment_to_invoice(invoice, value)
    fire(payment, "create_payment")
    return payment


# API handlers ----------------------------------------------------------------------------------
def ping(request, account):
    return JsonResponse({"company_name": account.name, "user_name": "Sandbox Admin"})


def list_records(request, account, entity):
    kind = ENTITIES[entity]
    queryset = records(account, kind)
    params = request.GET
    if params.get("status"):
        wanted = {s.strip() for s in params["status"].split(",")}
        matches = []
        for record in queryset:
            state = "deleted" if record.is_deleted else ("archived" if record.archived_at else "active")
            if state in wanted:
                matches.append(record.pk)
        queryset = queryset.filter(pk__in=matches)
    if params.get("updated_at"):
        try:
            queryset = queryset.filter(updated_at__gte=int(params["updated_at"]))
        except ValueError:
            raise invalid(updated_at="The updated at must be a unix timestamp.") from None
    if params.get("is_deleted") in ("true", "false"):
        queryset = queryset.filter(is_deleted=params["is_deleted"] == "true")
    if params.get("client_id"):
        queryset = queryset.filter(data__client_id=params["client_id"])
    if params.get("number"):
        queryset = queryset.filter(data__number=params["number"])
    if params.get("name") and kind == "client":
        queryset = queryset.filter(data__name__icontains=params["name"])
    items = list(queryset)
    sort = params.get("sort", "")
    if sort:
        column, _, direction = sort.partition("|")
        key = {"id": lambda r: r.pk, "updated_at": lambda r: (r.updated_at, r.pk),
               "created_at": lambda r: (r.created_at, r.pk)}.get(column, lambda r: (str(r.data.get(column, "")), r.pk))
        items.sort(key=key, reverse=direction == "desc")
    try:
        per_page = max(1, min(int(params.get("per_page", 20)), 5000))
        page = max(1, int(params.get("page", 1)))
    except ValueError:
        raise invalid(per_page="The per page must be an integer.") from None
    total = len(items)
    total_pages = max(1, -(-total // per_page))
    chunk = items[(page - 1) * per_page: page * per_page]
    links = {}
    base = request.build_absolute_uri(request.path)
    query = params.copy()
    if page > 1:
        query["page"] = page - 1
        links["previous"] = f"{base}?{query.urlencode()}"
    if page < total_pages:
        query["page"] = page + 1
        links["next"] = f"{base}?{query.urlencode()}"
    return JsonResponse({
        "data": [serialize(r) for r in chunk],
        "meta": {"pagination": {"total": total, "count": len(chunk), "per_page": per_page, "current_page": page,
                                "total_pages": total_pages, "links": links}},
    })


def show(request, account, entity, record_id):
    return item_response(get_record(account, ENTITIES[entity], record_id))


def create(request, account, entity):
    kind = ENTITIES[entity]
    body = json_body(request)
    if kind == "client":
        data = client_fields(body)
        if body.get("number"):
            if number_taken(account, kind, str(body["number"])):
                raise invalid(number="The number has already been taken.")
            data["number"] = str(body["number"])
        data.setdefault("number", next_number(account, kind))
        record = create_record(account, kind, data)
    elif kind in ("quote", "invoice"):
        data = document_fields(account, kind, body)
        data.setdefault("number", next_number(account, kind))
        data.update(status_id="1", paid_to_date=0.0)
        client = records(account, "client").get(hashed_id=data["client_id"])
        data["invitations"] = invitations_for(client, kind)
        record = create_record(account, kind, data)
    elif kind == "payment":
        record = create_payment_from_api(request, account, body)
        return item_response(record)
    else:
        record = create_record(account, kind, webhook_fields(body))
        return item_response(record)
    fire(record, f"create_{kind}")
    return item_response(record)


def webhook_fields(body) -> dict:
    target = str(body.get("target_url") or "")
    if not target:
        raise invalid(target_url="The target url field is required.")
    if not target.startswith(("http://", "https://")):
        raise invalid(target_url="The target url must be a valid URL.")
    if body.get("event_id") in (None, ""):
        raise invalid(event_id="The event id field is required.")
    try:
        event_id = int(body["event_id"])
    except (TypeError, ValueError):
        event_id = 0
    if event_id not in VALID_EVENT_IDS:
        raise SandboxError(400, "Invalid event", body="Invalid event")
    method = str(body.get("rest_method") or "post").lower()
    if method not in ("post", "put"):
        raise invalid(rest_method="The selected rest method is invalid.")
    headers = body.get("headers") or {}
    if not isinstance(headers, dict):
        raise invalid(headers="The headers must be an object.")
    return {"event_id": str(event_id), "target_url": target, "rest_method": method, "format": "JSON",
            "headers": {str(k): str(v) for k, v in headers.items()}}


def create_payment_from_api(request, account, body):
    client = live_client(account, body.get("client_id"))
    allocations = []
    seen = set()
    for index, line in enumerate(body.get("invoices") or []):
        invoice = records(account, "invoice").filter(hashed_id=str(line.get("invoice_id")), is_deleted=False,
                                                     data__client_id=client.hashed_id).first()
        if invoice is None or line.get("invoice_id") in seen:
            raise invalid(**{f"invoices.{index}.invoice_id": "The selected invoice is invalid."})
        seen.add(line["invoice_id"])
        value = amount(line.get("amount"))
        if value <= 0 or value > amount(invoice.data.get("balance")):
            raise invalid(**{f"invoices.{index}.amount": "Amount cannot be greater than invoice balance."})
        allocations.append((invoice, value))
    total = amount(body["amount"]) if body.get("amount") else sum((a for _, a in allocations), Decimal(0))
    key = str(body.get("idempotency_key") or "")
    if key and records(account, "payment").filter(data__idempotency_key=key).exists():
        raise invalid(idempotency_key="The idempotency key has already been taken.")
    check_duplicate(account, f"payment:{client.hashed_id}:{total}")
    return create_payment(account, client, allocations, total=total,
                          reference=str(body.get("transaction_reference") or ""), idempotency_key=key,
                          type_id=str(body.get("type_id") or "1"))


def update(request, account, entity, record_id):
    kind = ENTITIES[entity]
    record = get_record(account, kind, record_id, lock=True)
    body = json_body(request)
    if kind == "client":
        record.data = client_fields(body, existing=record)
    elif kind in ("quote", "invoice"):
        record.data = document_fields(account, kind, body, existing=record)
    elif kind == "payment":
        for field in ("transaction_reference", "private_notes"):
            if field in body:
                record.data[field] = str(body[field] or "")
        if body.get("date"):
            record.data["date"] = body["date"]
    else:
        record.data = webhook_fields(body)
        touch(record)
        return item_response(record)
    touch(record)
    fire(record, f"update_{kind}")
    return item_response(record)


def destroy(request, account, entity, record_id):
    kind = ENTITIES[entity]
    record = get_record(account, kind, record_id, lock=True)
    record.is_deleted = kind != "webhook"  # deleting a webhook registration archives it (NOTES §14.1)
    record.archived_at = record.archived_at or now()
    touch(record)
    if kind == "payment":
        for line in record.data.get("paymentables", []):
            invoice = records(account, "invoice").filter(hashed_id=line.get("invoice_id")).first()
            if invoice:
                apply_payment_to_invoice(invoice, -amount(line.get("amount")))
    if kind != "webhook":
        fire(record, f"delete_{kind}")
    return item_response(record)


def bulk(request, account, entity):
    kind = ENTITIES[entity]
    body = json_body(request)
    action = body.get("action") or request.GET.get("action")
    ids = body.get("ids") or []
    allowed = {
        "quote": {"approve", "convert", "convert_to_invoice", "email", "send_email", "mark_sent", "archive",
                  "restore", "delete", "download"},
        "invoice": {"email", "send_email", "mark_sent", "mark_paid", "archive", "restore", "delete", "download",
                    "cancel"},
    }.get(kind, {"archive", "restore", "delete"})
    if action not in allowed:
        raise invalid(action="The selected action is invalid.")
    if not isinstance(ids, list):
        raise invalid(ids="The ids must be an array.")
    if kind == "invoice":
        check_duplicate(account, f"invoices:bulk:{action}")
    targets = list(records(account, kind).select_for_update().filter(hashed_id__in=[str(i) for i in ids]))
    if not targets:
        if kind == "invoice":
            return JsonResponse({"message": "No Invoices Found"})
        return JsonResponse({"data": []})
    if action == "download":
        return pdf_response(targets[0])
    for record in targets:
        # Per-record failures are skipped silently, as the vendor does (NOTES §8–§9).
        if action == "approve":
            approve(record)
        elif action in ("convert", "convert_to_invoice"):
            convert(record)
        elif action in ("email", "send_email"):
            email(record)
        elif action == "mark_sent":
            if mark_sent(record):
                fire(record, f"update_{kind}")
        elif action == "mark_paid":
            balance = amount(record.data.get("balance"))
            if balance > 0 and not record.is_deleted and str(record.data.get("status_id")) not in ("4", "5", "6"):
                client = records(account, "client").get(hashed_id=record.data["client_id"])
                create_payment(account, client, [(record, balance)])
        elif action == "cancel":
            if str(record.data.get("status_id")) in ("2", "3"):
                touch(record, status_id="5", balance=0.0)
                fire(record, "update_invoice")
        elif action == "archive":
            if not record.archived_at:
                record.archived_at = now()
                touch(record)
                fire(record, f"archive_{kind}")
        elif action == "restore":
            if record.archived_at or record.is_deleted:
                record.archived_at, record.is_deleted = 0, False
                touch(record)
                fire(record, f"restore_{kind}")
        elif action == "delete":
            if not record.is_deleted:
                record.is_deleted, record.archived_at = True, record.archived_at or now()
                touch(record)
                fire(record, f"delete_{kind}")
        record.refresh_from_db()
    return JsonResponse({"data": [serialize(r) for r in targets]})


def emails(request, account):
    body = json_body(request)
    errors = {}
    for field in ("entity", "entity_id", "template"):
        if not body.get(field):
            errors[field] = f"The {field.replace('_', ' ')} field is required."
    if errors:
        raise invalid(**errors)
    if body["entity"] not in ("invoice", "quote", "credit", "recurring_invoice", "purchase_order", "payment"):
        raise invalid(entity="The selected entity is invalid.")
    if body["template"] not in EMAIL_TEMPLATES:
        raise invalid(template="The selected template is invalid.")
    if body["entity"] not in ("invoice", "quote"):
        raise invalid(entity="The sandbox only e-mails quotes and invoices.")
    record = records(account, body["entity"]).select_for_update().filter(hashed_id=str(body["entity_id"])).first()
    if record is None:
        raise invalid(entity_id="The selected entity id is invalid.")
    email(record)
    record.refresh_from_db()
    return item_response(record)


def download(request, account, entity, key):
    for record in records(account, entity):
        if any(inv.get("key") == key for inv in record.data.get("invitations", [])):
            return pdf_response(record)
    raise SandboxError(400, "no record found")


def tiny_pdf(title: str) -> bytes:
    """A valid one-page PDF (correct xref offsets) showing `title`."""
    text = title.replace("\\", "").replace("(", "").replace(")", "")[:80]
    stream = f"BT /F1 18 Tf 72 720 Td ({text}) Tj ET".encode("latin-1", "replace")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, obj in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + obj + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def pdf_response(record) -> HttpResponse:
    label = {"quote": "Devis", "invoice": "Facture"}.get(record.kind, record.kind)
    response = HttpResponse(tiny_pdf(f"{label} {record.data.get('number', '')} - Sandbox Invoice Ninja"),
                            content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="{record.kind}-{record.data.get("number", "")}.pdf"'
    return response


def route(method: str, parts: list[str]):
    """(handler, args) for an API path, or a SandboxError 404 with the vendor's two messages."""
    table = []
    if parts == ["ping"]:
        table = [("GET", ping, ())]
    elif parts == ["emails"]:
        table = [("POST", emails, ())]
    elif len(parts) == 1 and parts[0] in ENTITIES:
        table = [("GET", list_records, (parts[0],)), ("POST", create, (parts[0],))]
    elif len(parts) == 2 and parts[0] in ENTITIES and parts[1] == "bulk":
        table = [("POST", bulk, (parts[0],))]
    elif len(parts) == 2 and parts[0] in ENTITIES:
        table = [("GET", show, tuple(parts)), ("PUT", update, tuple(parts)), ("DELETE", destroy, tuple(parts))]
    elif len(parts) == 3 and parts[0] in ("quote", "invoice") and parts[2] == "download":
        table = [("GET", download, (parts[0], parts[1]))]
    if not table:
        raise SandboxError(404, "Route does not exist")
    for verb, handler, args in table:
        if verb == method:
            return handler, args
    raise SandboxError(404, "Method not supported for this route")


def authenticate(request) -> SandboxAccount:
    token = request.headers.get("X-API-TOKEN", "")
    account = SandboxAccount.objects.filter(api_token=token).first() if token else None
    if account is None:
        raise SandboxError(403, "Invalid token", {})
    return account


@sandbox_view
def api(request, path):
    try:
        handler, args = route(request.method, [p for p in path.strip("/").split("/") if p])
        account = authenticate(request)
        with transaction.atomic():
            response = handler(request, account, *args)
    except SandboxError as exc:
        return exc.response(request)
    response["X-App-Version"] = "5.12.55"
    response["X-Api-Version"] = "5.0.16"
    return response


# Client portal (for a person playing the client) ----------------------------------------------
@sandbox_view
def portal(request):
    quotes = SandboxRecord.objects.filter(kind="quote", is_deleted=False).select_related("account")
    invoices = SandboxRecord.objects.filter(kind="invoice", is_deleted=False).select_related("account")
    clients = {r.hashed_id: r.data.get("name", "") for r in SandboxRecord.objects.filter(kind="client")}
    return render(request, "invoiceninja/sandbox_portal.html", {
        "quotes": [(r, document_json(r), clients.get(r.data.get("client_id"), "")) for r in quotes],
        "invoices": [(r, document_json(r), clients.get(r.data.get("client_id"), "")) for r in invoices],
        "message": request.GET.get("message", ""),
    })


@sandbox_view
def portal_approve(request, record_id):
    if request.method != "POST":
        return redirect(reverse("invoiceninja_sandbox:portal"))
    with transaction.atomic():
        quote = SandboxRecord.objects.select_for_update().filter(kind="quote", hashed_id=record_id).first()
        if quote is None:
            return HttpResponse("Devis introuvable.", status=404)
        approved = approve(quote)
    message = "Devis approuvé." if approved else "Ce devis ne peut plus être approuvé."
    return redirect(reverse("invoiceninja_sandbox:portal") + "?message=" + url_quote(message))


# What a person types: "2160.00", "2160,5" (decimal comma), "2 160,50" (spaces, also no-break, grouping digits).
TYPED_AMOUNT = re.compile(r"\d+(?:[.,]\d{1,2})?")
DIGIT_GROUPING = str.maketrans("", "", " \u00a0\u202f")


def typed_amount(raw: str) -> Decimal | None:
    """The amount typed in the portal's field, or None when it is not one."""
    text = raw.strip().translate(DIGIT_GROUPING)
    if not TYPED_AMOUNT.fullmatch(text):
        return None
    return Decimal(text.replace(",", "."))


@sandbox_view
def portal_pay(request, record_id):
    if request.method != "POST":
        return redirect(reverse("invoiceninja_sandbox:portal"))
    with transaction.atomic():
        invoice = SandboxRecord.objects.select_for_update().filter(kind="invoice", hashed_id=record_id).first()
        if invoice is None:
            return HttpResponse("Facture introuvable.", status=404)
        balance = amount(invoice.data.get("balance"))
        raw = request.POST.get("amount", "")
        value = typed_amount(raw) if raw.strip() else balance
        if value is None or value <= 0 or value > balance or str(invoice.data.get("status_id")) not in ("2", "3"):
            message = "Montant invalide ou facture non payable."
        else:
            client = SandboxRecord.objects.get(account=invoice.account, kind="client",
                                               hashed_id=invoice.data["client_id"])
            create_payment(invoice.account, client, [(invoice, value)], reference="Portail client")
            message = "Paiement enregistré."
    return redirect(reverse("invoiceninja_sandbox:portal") + "?message=" + url_quote(message))


urlpatterns = [
    re_path(r"^$", portal, name="portal"),
    re_path(r"^portal/quotes/(?P<record_id>[A-Za-z0-9]+)/approve/$", portal_approve, name="portal_approve"),
    re_path(r"^portal/invoices/(?P<record_id>[A-Za-z0-9]+)/pay/$", portal_pay, name="portal_pay"),
    re_path(r"^api/v1/(?P<path>.*)$", api, name="api"),
]

