"""Request bodies built from hub records, in the vendor's shapes (spec ClientRequest, QuoteRequest, InvoiceRequest).

Every object the console creates carries a marker in its private notes (`[console:quote:12]`), so a
retried action or a webhook racing the action finds the object instead of creating a second one.
"""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

from apps.hub.models import Company, Contact

MARKER = re.compile(r"\[console:(?P<kind>[a-z]+):(?P<pk>\d+)\]")

# Invoice Ninja country ids are ISO 3166-1 numeric codes (spec CountryType).
COUNTRY_IDS = {
    "FR": 250, "BE": 56, "CH": 756, "LU": 442, "MC": 492, "DE": 276, "ES": 724, "IT": 380, "NL": 528,
    "PT": 620, "GB": 826, "IE": 372, "AT": 40, "US": 840, "CA": 124,
}
# Currency ids of the vendor's static currency table (1 USD, 2 GBP, 3 EUR); others are sent by code.
CURRENCY_IDS = {"USD": "1", "GBP": "2", "EUR": "3"}
CURRENCY_CODES = {value: key for key, value in CURRENCY_IDS.items()}
DEFAULT_QUOTE_VALIDITY = timedelta(days=30)


def marker(kind: str, pk: int) -> str:
    return f"[console:{kind}:{pk}]"


def marked_pk(text: str | None, kind: str) -> int | None:
    for match in MARKER.finditer(text or ""):
        if match["kind"] == kind:
            return int(match["pk"])
    return None


def contact_body(contact: Contact) -> dict:
    return {
        "first_name": contact.first_name,
        "last_name": contact.last_name,
        "email": contact.email,
        "phone": contact.phone,
        "send_email": bool(contact.email),
    }


def client_body(company: Company, remote_contacts: list[dict] | None = None) -> dict:
    """Create body, or update body when `remote_contacts` (the client's current contacts) is given.

    On update every remote contact is sent back with its id: a contact missing from the array would be
    deleted by the vendor (NOTES §7). Hub contacts whose e-mail is not known remotely are added.
    """
    hub_contacts = list(company.contacts.all())
    if remote_contacts is None:
        contacts = [contact_body(c) for c in hub_contacts]
        if not contacts and company.email:
            contacts = [{"email": company.email, "send_email": True}]
    else:
        known = {(c.get("email") or "").lower() for c in remote_contacts}
        contacts = [{"id": c["id"], "first_name": c.get("first_name", ""), "last_name": c.get("last_name", ""),
                     "email": c.get("email", ""), "phone": c.get("phone", ""),
                     "send_email": bool(c.get("send_email"))} for c in remote_contacts]
        contacts += [contact_body(c) for c in hub_contacts if c.email and c.email.lower() not in known]
    body = {
        "name": company.name,
        "vat_number": company.vat_number,
        "address1": company.address1,
        "postal_code": company.postal_code,
        "city": company.city,
        "phone": company.phone,
        "contacts": contacts,
        "private_notes": marker("company", company.pk),
    }
    if company.country_code.upper() in COUNTRY_IDS:
        body["country_id"] = COUNTRY_IDS[company.country_code.upper()]
    else:
        body["country_code"] = company.country_code.upper()
    if company.currency in CURRENCY_IDS:
        body["settings"] = {"currency_id": CURRENCY_IDS[company.currency]}
    else:
        body["currency_code"] = company.currency
    return body


def line_items(document) -> list[dict]:
    return [
        {
            "product_key": "",
            "notes": line.description,
            "quantity": line.quantity,
            "cost": line.unit_price,
            "tax_name1": "TVA" if line.tax_rate else "",
            "tax_rate1": line.tax_rate,
            "type_id": "1",
        }
        for line in document.lines.all()
    ]


def quote_body(quote, client_id: str) -> dict:
    return {
        "client_id": client_id,
        "date": quote.issue_date.isoformat(),
        # The spec requires a validity date; the vendor calls it due_date.
        "due_date": (quote.valid_until or quote.issue_date + DEFAULT_QUOTE_VALIDITY).isoformat(),
        "public_notes": quote.notes,
        "private_notes": marker("quote", quote.pk),
        "line_items": line_items(quote),
    }


def invoice_body(invoice, client_id: str) -> dict:
    body = {
        "client_id": client_id,
        "date": invoice.issue_date.isoformat(),
        "public_notes": invoice.notes,
        "private_notes": marker("invoice", invoice.pk),
        "line_items": line_items(invoice),
    }
    if invoice.due_date:
        body["due_date"] = invoice.due_date.isoformat()
    return body


def decimal(value) -> Decimal:
    if value in (None, ""):
        return Decimal(0)
    return value if isinstance(value, Decimal) else Decimal(str(value))
