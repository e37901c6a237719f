"""The Mautic panel on hub invoices (reminders sent, dunning state, email activity) and companies (each
contact's link, do-not-contact state, segments, conflict, email activity)."""

from django.utils.translation import gettext_lazy as _

from apps.core.models import Connection
from apps.core.record_panels import RecordPanel
from apps.hub.models import Company, Invoice
from apps.mautic import dunning
from apps.mautic.models import ContactLink, DunningStop, EmailActivity, ReminderSend


def _connection():
    return Connection.objects.filter(provider="mautic", is_active=True).order_by("pk").first()


def invoice_context(invoice, user):
    connection = _connection()
    if connection is None:
        return None
    return {
        "connection": connection,
        "reminders": ReminderSend.objects.filter(invoice=invoice).select_related("link"),
        "stop": DunningStop.objects.filter(invoice=invoice).first(),
        # Paid before any reminder went out: nothing to stop, but none will go (not "next reminder: 1st").
        "paid": invoice.status == Invoice.Status.PAID,
        "next_level": dunning.level_label(level) if (level := dunning.next_level(invoice)) else None,
        "refusal": dunning.refusal(invoice, connection),
        "activity": EmailActivity.objects.filter(invoice=invoice)[:20],
    }


def company_context(company, user):
    connection = _connection()
    if connection is None:
        return None
    links = ContactLink.objects.filter(connection=connection, contact__company=company).select_related("contact") \
        .prefetch_related("segments")
    return {
        "connection": connection,
        "links": links,
        "activity": EmailActivity.objects.filter(link__in=links)[:20],
    }


PANELS = [
    (Invoice, RecordPanel(_("Mautic"), "mautic/panel_invoice.html", invoice_context,
                          sources=((ReminderSend, "invoice"), (DunningStop, "invoice"), (EmailActivity, "invoice")))),
    (Company, RecordPanel(_("Mautic"), "mautic/panel_company.html", company_context)),
]
