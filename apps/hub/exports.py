"""What "Exporter en CSV" writes for each hub list: the columns an accountant reads, headed as the form labels them.

Headers are the fields' own labels (so the English console exports English headers); amounts and dates are
written as the user's spreadsheet reads them (apps.core.exports). Bank details stay out of a company list
export: a list of IBANs is not what a list export is for, and it travels by e-mail.
"""

from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _
from import_export import resources
from import_export.fields import Field
from import_export.widgets import Widget

from apps.core.exports import AmountWidget, DateTimeWidget, DateWidget, YesNoWidget
from apps.hub.models import Company, Invoice, Payment, Quote, SupplierBill


def column(model, name, attribute=None, widget=None, header=None):
    """A column headed like the model field `name` ("Total TTC"), reading `attribute` (default: the field)."""
    return Field(attribute=attribute or name, widget=widget or Widget(),
                 column_name=header or capfirst(model._meta.get_field(name).verbose_name))


def choice(model, name):
    return column(model, name, attribute=f"get_{name}_display")


class CompanyResource(resources.Resource):
    name = column(Company, "name")
    is_client = column(Company, "is_client", widget=YesNoWidget())
    is_supplier = column(Company, "is_supplier", widget=YesNoWidget())
    email = column(Company, "email")
    phone = column(Company, "phone")
    registration_number = column(Company, "registration_number")
    vat_number = column(Company, "vat_number")
    address1 = column(Company, "address1")
    postal_code = column(Company, "postal_code")
    city = column(Company, "city")
    country_code = column(Company, "country_code")
    currency = column(Company, "currency")


class QuoteResource(resources.Resource):
    number = column(Quote, "number")
    company = column(Quote, "company", attribute="company__name")
    title = column(Quote, "title")
    status = choice(Quote, "status")
    issue_date = column(Quote, "issue_date", widget=DateWidget())
    valid_until = column(Quote, "valid_until", widget=DateWidget())
    subtotal = column(Quote, "subtotal", widget=AmountWidget())
    tax_total = column(Quote, "tax_total", widget=AmountWidget())
    total = column(Quote, "total", widget=AmountWidget())
    currency = column(Quote, "currency")


class InvoiceResource(resources.Resource):
    number = column(Invoice, "number")
    company = column(Invoice, "company", attribute="company__name")
    title = column(Invoice, "title")
    status = choice(Invoice, "status")
    issue_date = column(Invoice, "issue_date", widget=DateWidget())
    due_date = column(Invoice, "due_date", widget=DateWidget())
    subtotal = column(Invoice, "subtotal", widget=AmountWidget())
    tax_total = column(Invoice, "tax_total", widget=AmountWidget())
    total = column(Invoice, "total", widget=AmountWidget())
    amount_paid = column(Invoice, "amount_paid", widget=AmountWidget())
    balance_due = column(Invoice, "total", attribute="balance_due", widget=AmountWidget(), header=_("Reste dû"))
    currency = column(Invoice, "currency")


class SupplierBillResource(resources.Resource):
    reference = column(SupplierBill, "reference")
    supplier = column(SupplierBill, "supplier", attribute="supplier__name")
    description = column(SupplierBill, "description")
    status = choice(SupplierBill, "status")
    issue_date = column(SupplierBill, "issue_date", widget=DateWidget())
    due_date = column(SupplierBill, "due_date", widget=DateWidget())
    amount = column(SupplierBill, "amount", widget=AmountWidget())
    currency = column(SupplierBill, "currency")
    paid_at = column(SupplierBill, "paid_at", widget=DateTimeWidget())


class PaymentResource(resources.Resource):
    date = column(Payment, "date", widget=DateWidget())
    direction = choice(Payment, "direction")
    amount = column(Payment, "amount", widget=AmountWidget())
    currency = column(Payment, "currency")
    invoice = column(Payment, "invoice")
    supplier_bill = column(Payment, "supplier_bill")
    source = column(Payment, "source")
    external_id = column(Payment, "external_id")
