"""Reactions to hub changes, wired in apps.py: the hub knows no outside system, so Mautic listens.

- a client's contact saved with a changed email/name/phone is pushed to Mautic (after commit, in a worker);
- an invoice that becomes paid or cancelled stops its dunning: no further reminder, a note on its timeline,
  and its company's contacts move from "Relances en cours" (to "Payés" when paid);
- a reminder confirmed sent reports the invoice's reminder level to whoever mirrors integration statuses.
"""

from __future__ import annotations

from django.db.models.signals import post_save
from django.utils.translation import gettext_lazy, gettext_noop

from apps.core import jobs, signals
from apps.core.models import Connection, TimelineEntry
from apps.hub.models import Contact, Invoice
from apps.mautic.models import DunningStop, ReminderSend


def contact_saved(sender, instance: Contact, raw=False, **kwargs):
    if raw or not instance.email or not Connection.objects.filter(provider="mautic", is_active=True).exists():
        return
    if not instance.company.is_client:  # suppliers' contacts are not Mautic's business
        return
    from apps.mautic import jobs as mautic_jobs

    mautic_jobs.enqueue_push(instance.pk)


def invoice_saved(sender, instance: Invoice, raw=False, **kwargs):
    if raw or instance.status not in (Invoice.Status.PAID, Invoice.Status.CANCELLED):
        return
    if not ReminderSend.objects.filter(invoice=instance).exists():
        return
    paid = instance.status == Invoice.Status.PAID
    reason = gettext_lazy("facture payée") if paid else gettext_lazy("facture annulée")
    _stop, created = DunningStop.objects.get_or_create(invoice=instance, defaults={"reason": str(reason)})
    if not created:
        return
    TimelineEntry.record(instance, gettext_noop("Relances Mautic arrêtées : %(reason)s."),
                         params={"reason": reason}, provider="mautic", level=TimelineEntry.Level.INFO)
    from apps.mautic import jobs as mautic_jobs

    jobs.enqueue_on_commit(mautic_jobs.sync_company_segments, instance.company_id, queue="default")


def reminder_saved(sender, instance: ReminderSend, raw=False, **kwargs):
    if raw or instance.status != ReminderSend.Status.SENT:
        return
    signals.integration_status_reported.send(sender="mautic", record=instance.invoice,
                                             reminder_level=instance.level)


def connect() -> None:
    post_save.connect(contact_saved, sender=Contact, dispatch_uid="mautic.contact_saved")
    post_save.connect(invoice_saved, sender=Invoice, dispatch_uid="mautic.invoice_saved")
    post_save.connect(reminder_saved, sender=ReminderSend, dispatch_uid="mautic.reminder_saved")
