"""A paid invoice: the client is thanked once through Mautic when the connection names a thank-you email, the
reminders stop and the contact leaves "Relances en cours". Against Mautic's emulator reached in-process."""

from decimal import Decimal

import pytest

from apps.automations.models import Chain
from apps.core import actions
from apps.core.bulk import create_announced
from apps.core.models import ActionRun, Connection, TimelineEntry
from apps.hub.models import Invoice, Payment
from apps.mautic.models import DunningStop, ReminderSend, SegmentMembership
from apps.mautic.sandbox import records
from tests.mautic.conftest import (  # noqa: F401  (fixtures)
    _isolated_redis,
    accountant,
    api,
    client_company,
    connection,
    instance,
    overdue,
    run_jobs,
    wire,
)


@pytest.fixture
def settle(django_capture_on_commit_callbacks):
    def settle(first=None):
        for _round in range(6):
            with django_capture_on_commit_callbacks(execute=True) as callbacks:
                if first is not None:
                    first, _ = None, first()
                run_jobs("default", "webhooks")
            if not callbacks:
                break
    return settle


def pay(invoice):
    """What any payment path ends with: the hub payment and the invoice paid (here Invoice Ninja's reconcile)."""
    Payment.objects.create(direction=Payment.Direction.INCOMING, invoice=invoice, amount=invoice.total,
                           currency=invoice.currency, source="invoiceninja", external_id="pay-1")
    invoice.status, invoice.amount_paid = Invoice.Status.PAID, invoice.total
    invoice.save()


def test_a_paid_invoice_thanks_the_client_once_and_leaves_the_reminders(connection, overdue, instance, settle,
                                                                          accountant):
    thanks = records.ensure_emails(instance)[0]
    Connection.objects.filter(pk=connection.pk).update(config={**connection.config, "thank_you_email": thanks.pk})
    settle(lambda: actions.start(actions.get("mautic.send_reminder"), overdue, accountant, "first-reminder"))
    assert ReminderSend.objects.get(invoice=overdue).status == ReminderSend.Status.SENT
    assert "relances-en-cours" in set(SegmentMembership.objects.values_list("segment", flat=True))
    settle(lambda: pay(overdue))

    chain = Chain.objects.get(rule="payment_thanks")
    assert chain.status == Chain.Status.SUCCEEDED, (chain.waiting_for, chain.last_error)
    run = ActionRun.objects.get(action="mautic.send_thanks")
    assert run.status == ActionRun.Status.SUCCEEDED and run.label.startswith("Automatique")
    assert records.objects(instance, "stat").count() == 2  # the reminder, then one thank-you
    assert DunningStop.objects.filter(invoice=overdue).exists()
    segments = set(SegmentMembership.objects.values_list("segment", flat=True))
    assert "relances-en-cours" not in segments and "payes" in segments
    messages = [e.message for e in TimelineEntry.objects.filter(object_id=str(overdue.pk))]
    assert any("Remerciement pour le paiement envoyé" in m for m in messages)

    settle(lambda: overdue.save())  # saved again while paid (a sync, a webhook): no second thank-you
    assert records.objects(instance, "stat").count() == 2
    assert ActionRun.objects.filter(action="mautic.send_thanks").count() == 1


def test_without_a_thank_you_email_configured_nothing_is_sent(connection, overdue, instance, settle):
    settle(lambda: pay(overdue))
    assert overdue.total > Decimal(0)
    assert not Chain.objects.filter(rule="payment_thanks").exists()
    assert records.objects(instance, "stat").count() == 0


def test_invoices_arriving_already_paid_are_history_not_payments_to_thank(connection, overdue, instance, settle):
    """A first sync of an Invoice Ninja account imports years of paid invoices: none of those clients is thanked."""
    thanks = records.ensure_emails(instance)[0]
    Connection.objects.filter(pk=connection.pk).update(config={**connection.config, "thank_you_email": thanks.pk})

    def import_history():
        Invoice.objects.create(company=overdue.company, status=Invoice.Status.PAID, number="2019-001")
        create_announced(Invoice, [Invoice(company=overdue.company, status=Invoice.Status.PAID, number="2019-002")])

    settle(import_history)

    assert not Chain.objects.filter(rule="payment_thanks").exists()
    assert records.objects(instance, "stat").count() == 0
