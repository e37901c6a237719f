"""A supplier's bank details as Revolut takes them, and its counterparty: linked, found, or created.

Which details: the IBAN (with its BIC) when the company has one; otherwise its local details — a UK
account number and sort code (a GBP account) or a US account number and ABA routing number (a USD
account). Everything is checked before anything is sent. What each corridor needs comes from
business.yaml: `CreateCounterpartyRequest` (sort_code "required for GBP accounts", routing_number "for
USD accounts") and the `GET /counterparties/fields` examples (a US business needs an address, a UK one
does not; BeneficiaryAddress requires country and postcode).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from apps.core.actions import ActionFailed
from apps.core.http import ClientError
from apps.core.models import Connection
from apps.revolut.bank_details import (
    digits_only,
    normalize_iban,
    validate_bic,
    validate_iban,
    validate_routing_number,
    validate_sort_code,
    validate_uk_account_no,
    validate_us_account_no,
)
from apps.revolut.client import RevolutClient, error_code
from apps.revolut.models import RevolutCounterparty


@dataclass(frozen=True)
class BankDetails:
    bank_country: str
    currency: str
    iban: str = ""
    bic: str = ""
    account_no: str = ""
    sort_code: str = ""
    routing_number: str = ""
    address: dict | None = None

    def lookup(self) -> dict:
        """Filters of GET /counterparties that find a counterparty already holding these details."""
        if self.iban:
            return {"iban": self.iban, "bic": self.bic or None}
        # sort_code is only allowed together with account_no; there is no routing_number filter.
        return {"account_no": self.account_no, "sort_code": self.sort_code or None}

    def account_in(self, counterparty: dict) -> dict | None:
        """The counterparty's bank account holding these details, if any."""
        for account in counterparty.get("accounts") or []:
            if self.iban:
                if normalize_iban(account.get("iban", "")) == self.iban:
                    return account
            elif (digits_only(account.get("account_no", "")) == self.account_no
                  and digits_only(account.get("sort_code", "")) == self.sort_code
                  and digits_only(account.get("routing_number", "")) == self.routing_number):
                return account
        return None

    def request_body(self, company_name: str) -> dict:
        body = {"company_name": company_name, "bank_country": self.bank_country, "currency": self.currency}
        for field in ("iban", "bic", "account_no", "sort_code", "routing_number"):
            if getattr(self, field):
                body[field] = getattr(self, field)
        if self.address:
            body["address"] = self.address
        return body

    def masked(self) -> str:
        if self.iban:
            return f"{self.iban[:4]} •••• {self.iban[-4:]}"
        bank_code = self.sort_code or self.routing_number
        return f"{bank_code} •••• {self.account_no[-4:]}"


def address_of(company, *, default_country: str) -> dict | None:
    """The company's address as a BeneficiaryAddress, or None when it lacks what Revolut requires."""
    if not (company.postal_code and company.city):
        return None
    address = {"street_line1": company.address1, "region": company.region, "city": company.city,
               "postcode": company.postal_code, "country": company.country_code or default_country}
    return {field: value for field, value in address.items() if value}


def details_of(company) -> BankDetails:
    """The supplier's bank details, validated; ValidationError in French naming the field otherwise."""
    if company.iban:
        iban = validate_iban(company.iban)
        bic = validate_bic(company.bic) if company.bic else ""
        return BankDetails(bank_country=iban[:2], currency=company.currency or "EUR", iban=iban, bic=bic,
                           address=address_of(company, default_country=iban[:2]))
    has_sort_code, has_routing = bool(company.sort_code.strip()), bool(company.routing_number.strip())
    if not (has_sort_code or has_routing or company.account_no.strip()):
        raise ValidationError(_("Le fournisseur %(name)s n'a ni IBAN ni coordonnées bancaires locales.")
                              % {"name": company.name})
    if has_sort_code and has_routing:
        raise ValidationError(_("Coordonnées bancaires ambiguës : renseignez le sort code (Royaume-Uni) ou le "
                                "routing number (États-Unis), pas les deux."))
    if not (has_sort_code or has_routing):
        raise ValidationError(_("Numéro de compte sans sort code ni routing number : renseignez le sort code "
                                "(Royaume-Uni) ou le routing number (États-Unis)."))
    if not company.account_no.strip():
        raise ValidationError(_("Numéro de compte manquant : il accompagne le sort code ou le routing number."))
    if has_sort_code:
        return BankDetails(bank_country="GB", currency="GBP", account_no=validate_uk_account_no(company.account_no),
                           sort_code=validate_sort_code(company.sort_code),
                           address=address_of(company, default_country="GB"))
    account_no = validate_us_account_no(company.account_no)
    routing_number = validate_routing_number(company.routing_number)
    address = address_of(company, default_country="US")
    if address is None or not company.address1:
        raise ValidationError(_("Adresse du fournisseur %(name)s incomplète : Revolut l'exige pour un compte "
                                "américain (adresse, code postal et ville).") % {"name": company.name})
    return BankDetails(bank_country="US", currency="USD", account_no=account_no, routing_number=routing_number,
                       address=address)


def counterparty_for(connection: Connection, company) -> RevolutCounterparty | None:
    return (
        RevolutCounterparty.objects.filter(connection=connection, company=company, is_deleted=False)
        .exclude(state="deleted").order_by("pk").first()
    )


def _same_name(left: str, right: str) -> bool:
    return " ".join(left.split()).casefold() == " ".join(right.split()).casefold()


def reusable_counterparty(connection: Connection, company, found: list[dict]) -> dict | None:
    """The counterparty among `found` (holding the supplier's bank details) this supplier may be paid through.

    Only one under the supplier's own name that no other supplier of the console is paid through: bank
    details shared with another name (a factoring company, or a typo) must neither send this supplier's
    payment under that other name nor take that supplier's counterparty away from it.
    """
    taken = set(
        RevolutCounterparty.objects.filter(connection=connection, external_id__in=[item.get("id") for item in found])
        .exclude(company=None).exclude(company=company).values_list("external_id", flat=True)
    )
    return next((item for item in found
                 if item.get("id") not in taken and _same_name(item.get("name") or "", company.name)), None)


def ensure_counterparty(connection: Connection, company, client: RevolutClient) -> RevolutCounterparty:
    """The supplier's Revolut counterparty: linked, found by its bank details, or created from the company."""
    from apps.revolut.sync import CounterpartiesResource, store

    existing = counterparty_for(connection, company)
    if existing:
        return existing
    try:
        details = details_of(company)
    except ValidationError as exc:
        raise ActionFailed(" ".join(exc.messages)) from None
    # Revolut accepts duplicate bank details (only Revtags answer 3012), so look before creating.
    found = [item for item in client.list_counterparties(**details.lookup()) if details.account_in(item)]
    payload = reusable_counterparty(connection, company, found)
    if payload is None:
        try:
            payload = client.create_counterparty(details.request_body(company.name))
        except ClientError as exc:
            existing_id = (exc.payload or {}).get("params", {}).get("counterparty_id") if isinstance(
                exc.payload, dict) else None
            if error_code(exc) == 3012 and existing_id:
                payload = client.get_counterparty(existing_id)
            else:
                raise ActionFailed(_("Revolut a refusé le bénéficiaire : %(error)s") % {"error": exc}) from None
    with transaction.atomic():
        record = store(connection, CounterpartiesResource, [payload])[0]
        linked = {"company": company}
        account = details.account_in(payload)
        if account and account.get("id"):
            # Pay the account holding these details, not whichever the counterparty lists first.
            linked["payment_account_id"] = account["id"]
        RevolutCounterparty.objects.filter(pk=record.pk).update(**linked)
        for field, value in linked.items():
            setattr(record, field, value)
    return record
