"""Lists exported as a spreadsheet in the user's language reads them (django-import-export Resources use these).

In French (the console's language): cells separated by ";" and amounts with a decimal comma and no thousands
separator ("1200,40"), dates "31/12/2026"; that is what LibreOffice and Excel set to French open as numbers and
dates without an import dialog. In English: "," and "1200.40", ISO dates. The file starts with a byte-order
mark, without which Excel reads UTF-8 accents as garbage. A text cell that a spreadsheet would run as a formula
(=, +, -, @) gets a leading apostrophe: webhook payloads and company names come from outside.
"""

import csv
import io
import re
from decimal import Decimal

from babel.numbers import get_decimal_symbol
from django.utils import formats, timezone
from django.utils.translation import gettext
from import_export import widgets
from import_export.formats.base_formats import CSV

from apps.core.numbers import current_locale

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
NUMBER = re.compile(r"^-?\d+([.,]\d+)?$")


def decimal_symbol() -> str:
    return get_decimal_symbol(current_locale())


def cell_delimiter() -> str:
    return ";" if decimal_symbol() == "," else ","


def defused(cell):
    text = "" if cell is None else str(cell)
    if text.startswith(FORMULA_START) and not NUMBER.match(text):
        return "'" + text
    return text


class SpreadsheetCSV(CSV):
    """CSV as the user's spreadsheet opens it (see the module docstring)."""

    def export_data(self, dataset, **kwargs):
        out = io.StringIO()
        out.write("\ufeff")
        writer = csv.writer(out, delimiter=cell_delimiter(), lineterminator="\r\n")
        writer.writerow(dataset.headers)
        writer.writerows([defused(cell) for cell in row] for row in dataset)
        return out.getvalue()


class AmountWidget(widgets.Widget):
    """"1200,40" in French, "1200.40" in English: a number for the spreadsheet, not a formatted text."""

    def render(self, value, obj=None, **kwargs):
        if value is None or value == "":
            return ""
        return format(Decimal(value).quantize(Decimal("0.01")), "f").replace(".", decimal_symbol())


class DateWidget(widgets.Widget):
    def render(self, value, obj=None, **kwargs):
        return value.strftime(formats.get_format("DATE_INPUT_FORMATS")[0]) if value else ""


class DateTimeWidget(widgets.Widget):
    """Local time (the list shows it so), to the second."""

    def render(self, value, obj=None, **kwargs):
        if not value:
            return ""
        return timezone.localtime(value).strftime(formats.get_format("DATETIME_INPUT_FORMATS")[0])


class YesNoWidget(widgets.Widget):
    def render(self, value, obj=None, **kwargs):
        return gettext("oui") if value else gettext("non")
