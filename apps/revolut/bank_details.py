"""Bank detail checks run before anything is sent to Revolut.

IBAN (ISO 13616 mod-97) and BIC (ISO 9362 shape); local details where there is no IBAN: UK account
number and sort code (8 and 6 digits, Revolut's field rules), US account number (6 to 17 digits) and
ABA routing number (9 digits with its weighted checksum).
"""

import re

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

# ISO 13616 registry lengths (SWIFT IBAN registry), for the countries a French back office meets.
IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AT": 20, "BA": 20, "BE": 16, "BG": 22, "CH": 21, "CY": 28, "CZ": 24, "DE": 22,
    "DK": 18, "EE": 20, "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GI": 23, "GL": 18, "GR": 27,
    "HR": 21, "HU": 28, "IE": 22, "IS": 26, "IT": 27, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27,
    "MT": 31, "NL": 18, "NO": 15, "PL": 28, "PT": 25, "RO": 24, "SE": 24, "SI": 19, "SK": 24, "SM": 27,
    "TN": 24, "TR": 26, "VA": 22,
}
BIC_PATTERN = re.compile(r"^[A-Z]{4}[A-Z]{2}[A-Z0-9]{2}([A-Z0-9]{3})?$")


def normalize_iban(value: str) -> str:
    return re.sub(r"\s+", "", value or "").upper()


def validate_iban(value: str) -> str:
    """Return the normalized IBAN or raise ValidationError with a French message."""
    iban = normalize_iban(value)
    if not re.fullmatch(r"[A-Z]{2}[0-9]{2}[A-Z0-9]+", iban):
        raise ValidationError(_("IBAN invalide : format attendu « FR76 … »."))
    country = iban[:2]
    expected = IBAN_LENGTHS.get(country)
    if expected is None:
        raise ValidationError(_("IBAN invalide : pays %(country)s non pris en charge.") % {"country": country})
    if len(iban) != expected:
        raise ValidationError(
            _("IBAN invalide : %(expected)s caractères attendus pour %(country)s, %(actual)s reçus.")
            % {"expected": expected, "country": country, "actual": len(iban)}
        )
    rearranged = iban[4:] + iban[:4]
    digits = "".join(str(int(char, 36)) for char in rearranged)
    if int(digits) % 97 != 1:
        raise ValidationError(_("IBAN invalide : la clé de contrôle ne correspond pas."))
    return iban


def validate_bic(value: str) -> str:
    # Shape only: a bank's BIC country may differ from its IBAN country (branches, overseas territories).
    bic = re.sub(r"\s+", "", value or "").upper()
    if not BIC_PATTERN.match(bic):
        raise ValidationError(_("BIC invalide : 8 ou 11 caractères attendus (ex. BNPAFRPP)."))
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
