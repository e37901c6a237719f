"""The hub's line on the home to-do (apps.core.home_todo): invoices past their due date, not paid."""

from django.urls import reverse
from django.utils.translation import ngettext

from apps.core.console.access import may_view_record
from apps.core.home_todo import ROWS_SHOWN, ToDo
from apps.core.numbers import format_money
from apps.hub.models import Invoice


def overdue_invoices(user) -> ToDo | None:
    if not may_view_record(user, Invoice):
        return None
    overdue = Invoice.objects.overdue()
    count = overdue.count()
    if not count:
        return None
    oldest = overdue.select_related("company").order_by("due_date", "id")[:ROWS_SHOWN]
    return ToDo(
        anchor="a-faire-factures",
        summary=ngettext("%(count)s facture en retard", "%(count)s factures en retard", count) % {"count": count},
        list_url=f"{reverse('admin:hub_invoice_changelist')}?en_retard=oui",
        row_template="hub/to_do_invoices.html",
        rows=[{"invoice": invoice, "balance": format_money(invoice.balance_due, invoice.currency)}
              for invoice in oldest],
    )
