"""Bank details and company identifiers, checked where they are typed (the company form) and again
before anything is sent to a bank (apps.revolut).

IBAN with schwifty (the full SWIFT registry: country, length, BBAN structure, mod-97 check digits) and BIC
(ISO 9362 shape, real country); local details where there is no IBAN: UK account number and sort code
(8 and 6 digits, Revolut's field rules; a sort code has no check digit of its own, and the account/sort
code modulus tables are not public data we ship), US account number (6 to 17 digits) and ABA routing
number (9 digits with its weighted checksum). French SIREN, SIRET and EU VAT numbers with python-stdnum.
"""

import re

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from schwifty import BIC, IBAN
from schwifty import exceptions as schwifty_errors
from schwifty.registry import get_iban_spec
from stdnum.eu import vat
from stdnum.fr import siren, siret

BIC_PATTERN = re.compile(r"^[A-Z]{4}[A-Z]{2}[A-Z0-9]{2}([A-Z0-9]{3})?$")


def normalize_iban(value: str) -> str:
    return re.sub(r"\s+", "", value or "").upper()


def validate_iban(value: str) -> str:
    """Return the normalized IBAN or raise ValidationError with a French message."""
    iban = normalize_iban(value)
    if not re.fullmatch(r"[A-Z]{2}[0-9]{2}[A-Z0-9]+", iban):
        raise ValidationError(_("IBAN invalide : format attendu « FR76 … »."))
    country = iban[:2]
    try:
        expected = get_iban_spec(country).iban_length
    except (KeyError, schwifty_errors.SchwiftyException):
        raise ValidationError(
            _("IBAN invalide : pays %(country)s non pris en charge.") % {"country": country}) from None
    if len(iban) != expected:
        raise ValidationError(
            _("IBAN invalide : %(expected)s caractères attendus pour %(country)s, %(actual)s reçus.")
            % {"expected": expected, "country": country, "actual": len(iban)}
        )
    try:
        IBAN(iban)
    except schwifty_errors.InvalidChecksumDigits:
        raise ValidationError(_("IBAN invalide : la clé de contrôle ne correspond pas.")) from None
    except schwifty_errors.SchwiftyException:
        raise ValidationError(
            _("IBAN invalide : le numéro de compte ne suit pas le format de %(country)s.") % {"country": country}
        ) from None
    return iban


def validate_bic(value: str) -> str:
    # Shape only: a bank's BIC country may differ from its IBAN country (branches, overseas territories).
    bic = re.sub(r"\s+", "", value or "").upper()
    if not BIC_PATTERN.match(bic):
        raise ValidationError(_("BIC invalide : 8 ou 11 caractères attendus (ex. BNPAFRPP)."))
    try:
        BIC(bic)
    except schwifty_errors.SchwiftyException:
        raise ValidationError(_("BIC invalide : le pays %(country)s n'existe pas.") % {"country": bic[4:6]}) from None
    return bic


def digits_only(value: str) -> str:
    """Spaces and hyphens are how people write these numbers (54-01-05); anything else stays and fails."""
    return re.sub(r"[\s-]+", "", value or "")


def validate_sort_code(value: str) -> str:
    sort_code = digits_only(value)
    if not re.fullmatch(r"\d{6}", sort_code):
        raise ValidationError(_("Sort code invalide : 6 chiffres attendus (ex. 54-01-05)."))
    return sort_code


def validate_uk_account_no(value: str) -> str:
    account_no = digits_only(value)
    if not re.fullmatch(r"\d{8}", account_no):
        raise ValidationError(_("Numéro de compte invalide : 8 chiffres attendus pour un compte britannique."))
    return account_no


def validate_us_account_no(value: str) -> str:
    account_no = digits_only(value)
    if not re.fullmatch(r"\d{6,17}", account_no):
        raise ValidationError(_("Numéro de compte invalide : 6 à 17 chiffres attendus pour un compte américain."))
    return account_no


def validate_routing_number(value: str) -> str:
    routing = digits_only(value)
    if not re.fullmatch(r"\d{9}", routing):
        raise ValidationError(_("Routing number invalide : 9 chiffres attendus."))
    weights = (3, 7, 1) * 3
    if sum(int(digit) * weight for digit, weight in zip(routing, weights, strict=True)) % 10:
        raise ValidationError(_("Routing number invalide : la clé de contrôle ABA ne correspond pas."))
    return routing


def validate_company_identifier(value: str, country_code: str) -> str:
    """A French SIREN (9 digits) or SIRET (14 digits) checked with its Luhn key; empty stays empty."""
    compact = digits_only(value)
    if not compact or country_code.upper() != "FR":
        return compact
    if len(compact) == 9 and siren.is_valid(compact):
        return compact
    if len(compact) == 14 and siret.is_valid(compact):
        return compact
    raise ValidationError(_("SIREN ou SIRET invalide : 9 ou 14 chiffres avec une clé de contrôle exacte."))


def validate_vat_number(value: str) -> str:
    """An EU VAT number (country prefix and check digits) as python-stdnum knows them."""
    compact = re.sub(r"[\s.-]+", "", value or "").upper()
    if compact and not vat.is_valid(compact):
        raise ValidationError(_("N° TVA invalide : préfixe du pays puis numéro avec sa clé (ex. FR44732829320)."))
    return compact
