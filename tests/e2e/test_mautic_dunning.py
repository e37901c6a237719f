"""Journey: dunning an overdue invoice through Mautic, clicking what accounting clicks.

Console: "Envoyer relance Mautic" on the demo's overdue invoice; the send, then the open (done by the
client in the sandbox's inbox page), appear on the invoice's timeline without a reload. The same level
cannot be sent twice; a client unsubscribed in Mautic cannot be emailed and the page says why; once the
invoice is paid the reminders stop.
"""

from __future__ import annotations

import re
import time
from datetime import timedelta
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from tests.e2e.browsing import (BACKGROUND_TIMEOUT_S, action_control, assert_not_navigated, log_in, run_action,
                                step, wait_until)
from tests.e2e.records import staff_user

LABEL = "Envoyer relance Mautic"


def text_appears(page, text: str, failure: str) -> None:
    wait_until(page, "t => document.body.innerText.includes(t)", text, failure=failure)


def wait_for(condition, failure: str, timeout: float = BACKGROUND_TIMEOUT_S):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(failure)


def unsubscribed_client_invoice():
    """A second client, unsubscribed in Mautic, with an overdue invoice."""
    from django.utils import timezone

    from apps.hub.models import Company, Contact, Invoice
    from apps.mautic.sandbox import records

    instance = records.instance()
    remote = records.create(instance, "contact", {"fields": {"email": "ines@librairie-du-port.example",
                                                             "firstname": "Inès"}, "dnc": []})
    records.add_dnc(remote, 1, comments="Désinscrite depuis un e-mail")
    company = Company.objects.create(name="Librairie du Port", email="contact@librairie-du-port.example")
    Contact.objects.create(company=company, first_name="Inès", last_name="Roux",
                           email="Ines@Librairie-du-Port.example", is_primary=True)
    invoice = Invoice.objects.create(company=company, number="FAC-DNC-001", status=Invoice.Status.SENT,
                                     issue_date=timezone.localdate() - timedelta(days=40),
                                     due_date=timezone.localdate() - timedelta(days=10))
    invoice.lines.create(position=0, description="Livres", quantity=1, unit_price=Decimal("120.00"))
    invoice.recalculate_totals()
    return invoice


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_mautic_dunning(browsing, console, demo):
    from apps.hub.models import Invoice
    from apps.mautic.models import ContactLink, ReminderSend
    from apps.mautic.sandbox import records

    invoice = Invoice.objects.get(number="FAC-DEMO-RELANCE")
    user = staff_user("relances", "view_console", "send_emails")
    page = browsing.new_page()
    log_in(page, user)

    # A first reminder; the send comes back from Mautic as a signed webhook and shows up in place.
    page.goto(f"/admin/hub/invoice/{invoice.pk}/change/")
    run_action(page, LABEL, confirm=True)
    text_appears(page, "envoyé à paul@boulangerie-martin.example",
                 "the Mautic send never appeared on the invoice's timeline without reload")
    assert_not_navigated(page)
    step(page, "first reminder sent")

    # The client opens it (the sandbox's inbox plays the recipient); the open appears in place too.
    inbox = browsing.new_page()
    inbox.goto(console.sandbox_url + "/sandbox/mautic/")
    row = inbox.locator("tr[id^='stat-']").filter(has_text="FAC-DEMO-RELANCE")
    expect(row, "the reminder is not in the sandbox's inbox").to_have_count(1)
    row.get_by_role("button", name="Ouvrir l'e-mail").click()
    expect(inbox.get_by_role("status")).to_contain_text("E-mail ouvert")
    step(inbox, "email opened by the client")
    text_appears(page, "ouvert par paul@boulangerie-martin.example",
                 "the open never appeared on the invoice's timeline without reload")
    assert_not_navigated(page)
    step(page, "open on the timeline")

    # The same level cannot go twice: the button says why.
    page.reload()
    button = action_control(page, LABEL)
    expect(button).to_be_disabled()
    expect(button).to_have_accessible_description(re.compile(r"1re relance a déjà été envoyée"))
    assert ReminderSend.objects.filter(invoice=invoice).count() == 1

    # A client unsubscribed in Mautic cannot be emailed, and the page says why.
    refused = unsubscribed_client_invoice()
    wait_for(lambda: ContactLink.objects.filter(email__iexact="ines@librairie-du-port.example",
                                                unsubscribed=True).exists(),
             "the new hub contact was never linked to its unsubscribed Mautic contact")
    page.goto(f"/admin/hub/invoice/{refused.pk}/change/")
    button = action_control(page, LABEL)
    expect(button).to_be_disabled()
    expect(button).to_have_accessible_description(re.compile(r"désinscrit"))
    step(page, "unsubscribed client refused")
    assert not records.objects(records.instance(), "stat").filter(data__email_address__icontains="librairie").exists()

    # The invoice is paid: its payment is recorded in the hub by another process (as a payment webhook
    # would be; a save here, next to Playwright's event loop, could not push live fragments).
    paid = console.manage("shell", "-c", (
        "from apps.hub.models import Invoice; "
        f"invoice = Invoice.objects.get(pk={invoice.pk}); invoice.status = Invoice.Status.PAID; "
        "invoice.amount_paid = invoice.total; invoice.save()"))
    assert paid.returncode == 0, paid.stderr
    page.goto(f"/admin/hub/invoice/{invoice.pk}/change/")
    button = action_control(page, LABEL)
    expect(button).to_be_disabled()
    expect(button).to_have_accessible_description(re.compile(r"La facture est payée"))
    expect(page.locator("#mautic-invoice-panel")).to_contain_text("Relances arrêtées")
    expect(page.locator(".console-timeline")).to_contain_text("Relances Mautic arrêtées")
    step(page, "reminders stopped once paid")
    relances = records.objects(records.instance(), "segment").get(data__alias="relances-en-cours")
    wait_for(lambda: not any(relances.pk in c.data.get("segments", [])
                             for c in records.objects(records.instance(), "contact")),
             "the paid client's contact is still in the Mautic segment 'Relances en cours'")
