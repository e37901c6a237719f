"""Numbers as people type and read them: one reading rule, one writing rule, used everywhere.

Reading (forms): a decimal comma or a decimal point, one of them at most ("123,45" and "123.45" are
the same amount); spaces group thousands ("1 234,56"); a point or a comma never groups thousands, so
"1.234,56", "1,234.56" and "1,2,3" are refused with a sentence instead of being guessed. More decimals
than the field keeps is refused too: "1.234" in an amount is not silently taken for 1,23 or 1 234.

Writing (forms, lists, confirmations, hub pages, balances): Babel's format for the user's language,
"1 200,40 €" in French, "€1,200.40" in English.
"""

import re
from decimal import Decimal, InvalidOperation

from babel.numbers import format_currency, format_decimal
from django import forms
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

SPACES = re.compile(r"[\s\u00a0\u202f\u2009']+")
SHAPE = re.compile(r"^[+-]?\d+([.,]\d+)?$")

MONEY_HELP = gettext_lazy(
    "Virgule ou point pour les décimales (123,45 ou 123.45), espaces pour les milliers (1 234,56) ; "
    "un point ou une virgule ne sépare jamais les milliers.")


def current_locale() -> str:
    return translation.to_locale(translation.get_language() or "fr")


def format_money(amount, currency: str = "EUR") -> str:
    if amount is None or amount == "":
        return "—"
    return format_currency(Decimal(amount), currency or "EUR", locale=current_locale())


def format_number(value, decimal_places: int = 2) -> str:
    """A number in the user's language, at least `decimal_places` decimals (quantities keep theirs)."""
    if value is None or value == "":
        return "—"
    pattern = "#,##0." + "0" * decimal_places + "#" * max(0, 3 - decimal_places)
    return format_decimal(Decimal(value), format=pattern, locale=current_locale())


def format_rate(value) -> str:
    """An exchange rate with every decimal it has (0,0061), in the user's language."""
    return format_decimal(Decimal(value).normalize(), locale=current_locale(), decimal_quantization=False)


def parse_decimal(text: str, decimal_places: int) -> Decimal:
    """The number a person typed, or forms.ValidationError with a French sentence saying why not."""
    compact = SPACES.sub("", str(text).strip())
    if compact.count(",") + compact.count(".") > 1 or not SHAPE.match(compact):
        raise forms.ValidationError(
            _("« %(text)s » n'est pas un nombre lisible sans ambiguïté : une virgule ou un point pour les "
              "décimales, des espaces pour les milliers (exemple : 1 234,56).") % {"text": text},
            code="ambiguous_number")
    whole, _sep, decimals = compact.replace(",", ".").partition(".")
    if len(decimals) > decimal_places:
        raise forms.ValidationError(
            _("« %(text)s » a plus de %(places)s chiffres après la virgule. Pour les milliers, utilisez une "
              "espace (1 234,56).") % {"text": text, "places": decimal_places},
            code="too_many_decimals")
    try:
        return Decimal(compact.replace(",", "."))
    except InvalidOperation:  # the shape check above makes this unreachable; never a 500 regardless
        raise forms.ValidationError(_("Nombre illisible."), code="invalid") from None


class DecimalInput(forms.TextInput):
    """A text input (a number input drops a typed comma) showing the value in the user's format."""

    def __init__(self, decimal_places: int, attrs=None):
        super().__init__({"inputmode": "decimal", "autocomplete": "off", "class": "console-number",
                          **(attrs or {})})
        self.decimal_places = decimal_places

    def format_value(self, value):
        if value is None or value == "":
            return ""
        if isinstance(value, (Decimal, int, float)):
            # Read back by parse_decimal: French groups with a plain space, other languages do not group.
            grouping = "#,##0" if current_locale().startswith("fr") else "0"
            decimals = "00" if self.decimal_places == 2 else "#" * self.decimal_places  # quantities: 2,5 not 2,500
            pattern = grouping + "." + decimals
            return SPACES.sub(" ", format_decimal(Decimal(value), format=pattern, locale=current_locale()))
        return str(value)  # what the user typed, shown back with its error


class LocalizedDecimalField(forms.DecimalField):
    """DecimalField that reads a number the way `parse_decimal` says."""

    def __init__(self, *, max_digits=None, decimal_places=None, **kwargs):
        kwargs.setdefault("widget", DecimalInput(decimal_places or 2))
        kwargs.setdefault("help_text", MONEY_HELP)
        kwargs.pop("localize", None)
        super().__init__(max_digits=max_digits, decimal_places=decimal_places, **kwargs)

    def to_python(self, value):
        if value in self.empty_values:
            return None
        return parse_decimal(value, self.decimal_places if self.decimal_places is not None else 6)


def localized_decimal_formfield(db_field, **kwargs):
    """`formfield_overrides`/`formfield_callback` entry: every DecimalField of a form reads as above."""
    return db_field.formfield(form_class=LocalizedDecimalField, **kwargs)
