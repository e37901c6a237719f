"""'Envoyer relance Mautic' end to end through the emulator: level, tokens, DNC refusal, once per level,
timelines fed by signed webhooks, reconciliation of what no webhook brought, and dunning stopping when paid."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import IntegrityError
from django.test import Client
from django.utils import timezone

from apps.core import actions
from apps.core.models import ActionRun, TimelineEntry, WebhookEvent
from apps.hub.models import Invoice
from apps.mautic import jobs
from apps.mautic.actions import SendInvoiceReminder
from apps.mautic.models import ContactLink, DunningStop, EmailActivity, ReminderSend, SegmentMembership
from apps.mautic.sandbox import delivery, records
from tests.mautic.conftest import OUTAGES, run_jobs

ACTION = "mautic.send_reminder"


@pytest.fixture
def settle(django_capture_on_commit_callbacks):
    """Run queued jobs and the on-commit work they cause (sandbox deliveries, inbox enqueues) until quiet."""
    def settle(first=None):
        result = None
        for _round in range(5):
            with django_capture_on_commit_callbacks(execute=True) as callbacks:
                if first is not None:
                    result, first = first(), None
                run_jobs("default", "webhooks")
            if not callbacks:
                break
        return result
    return settle


def click(invoice, user, settle, key=None) -> ActionRun:
    run, _created = settle(lambda: actions.start(actions.get(ACTION), invoice, user, key or actions_key()))
    run.refresh_from_db()
    return run


_counter = iter(range(10**6))


def actions_key() -> str:
    return f"key-{next(_counter)}"


def timeline(obj) -> list[str]:
    return [e.message for e in TimelineEntry.objects.filter(object_id=str(obj.pk),
                                                            content_type__model=obj._meta.model_name)]


def test_first_reminder_goes_with_its_tokens_and_send_and_open_reach_both_timelines(connection, overdue, accountant,
                                                                                     settle, instance):
    run = click(overdue, accountant, settle)
    assert run.status == ActionRun.Status.SUCCEEDED, run.message
    assert run.message.startswith("1re relance envoyée à Paul@Boulangerie.example")
    reminder = ReminderSend.objects.get(invoice=overdue)
    assert (reminder.level, reminder.status) == (1, ReminderSend.Status.SENT)
    stat = records.objects(instance, "stat").get()
    assert "FAC-2026-0042" in stat.data["subject"]
    assert "768,00 EUR" in stat.data["content"] and "Paul" in stat.data["content"]
    # No duplicate contact in Mautic, and the console's webhook got the send (signed, verified, processed).
    assert records.objects(instance, "contact").count() == 1
    assert EmailActivity.objects.get(kind="sent").invoice == overdue
    assert any("envoyé à" in m for m in timeline(overdue))
    link = ContactLink.objects.get()
    assert any("envoyé à" in m for m in timeline(link.contact))
    assert set(SegmentMembership.objects.values_list("segment", flat=True)) == {"clients", "relances-en-cours"}

    settle(lambda: Client().post(f"/sandbox/mautic/inbox/{stat.pk}/open/"))
    assert any("« Relance 1 — facture FAC-2026-0042 » ouvert par" in m for m in timeline(overdue))
    assert EmailActivity.objects.filter(kind="opened", invoice=overdue).count() == 1


def test_the_same_level_is_refused_with_a_reason_and_a_racing_second_send_loses(connection, overdue, accountant,
                                                                                settle):
    click(overdue, accountant, settle)
    reason = SendInvoiceReminder().unavailable_reason(overdue, accountant)
    assert "1re relance a déjà été envoyée" in reason and "2e relance sera possible" in reason
    with pytest.raises(actions.ActionUnavailable):
        actions.start(actions.get(ACTION), overdue, accountant, actions_key())
    # Two workers racing past the availability check: the (invoice, level) row admits one.
    with pytest.raises(IntegrityError):
        ReminderSend.objects.create(connection=connection, invoice=overdue, level=1, email_id=1)


def test_double_click_sends_once(connection, overdue, accountant, settle, instance):
    key = actions_key()

    def three_clicks():
        return [actions.start(actions.get(ACTION), overdue, accountant, k) for k in (key, key, actions_key())]

    (first, created), (second, created_again), (other_tab, created_third) = settle(three_clicks)
    assert created and not created_again and not created_third and first.pk == second.pk == other_tab.pk
    assert records.objects(instance, "stat").count() == 1


def test_do_not_contact_is_refused_before_sending_with_the_reason(connection, overdue, accountant, settle, instance):
    contact = overdue.company.contacts.get()
    mautic_contact = records.create(instance, "contact", {"fields": {"email": "paul@boulangerie.example"}, "dnc": []})
    records.add_dnc(mautic_contact, 1)
    run = click(overdue, accountant, settle)
    assert run.status == ActionRun.Status.FAILED
    assert "désinscrit" in run.message and "ne l'envoie pas" in run.message
    assert records.objects(instance, "stat").count() == 0
    assert not ReminderSend.objects.exists()
    # Matched by email whatever its case: linked to the existing Mautic contact, not a duplicate.
    assert ContactLink.objects.get(contact=contact).mautic_id == mautic_contact.pk
    assert records.objects(instance, "contact").count() == 1
    assert "désinscrit" in SendInvoiceReminder().unavailable_reason(overdue, accountant)


def test_missing_template_and_mautic_down_are_readable_and_send_nothing_twice(connection, overdue, accountant, settle,
                                                                              instance):
    connection.config = {**connection.config, "reminder_emails": {"1": 999}}
    connection.save()
    run = click(overdue, accountant, settle)
    assert "introuvable dans Mautic" in run.message and run.status == ActionRun.Status.FAILED
    connection.config = {**connection.config, "reminder_emails": {"1": records.objects(instance, "email").first().pk}}
    connection.save()
    OUTAGES["/sandbox/mautic/api/emails/"] = 503
    OUTAGES["/sandbox/mautic/api/emails/1/contact"] = 503
    run = click(overdue, accountant, settle)
    assert run.status == ActionRun.Status.FAILED
    assert "Mautic" in run.message and "Traceback" not in run.message
    OUTAGES.clear()
    assert records.objects(instance, "stat").count() == 0
    run = click(overdue, accountant, settle)
    assert run.status == ActionRun.Status.SUCCEEDED, run.message
    assert records.objects(instance, "stat").count() == 1


def test_reconciliation_records_what_mautic_failed_to_deliver_once(connection, overdue, accountant, settle, instance,
                                                                    monkeypatch):
    click(overdue, accountant, settle)
    stat = records.objects(instance, "stat").get()
    # Mautic does not retry: the receiver was unreachable for this open.
    monkeypatch.setattr(delivery, "post", lambda hook, batch: records.objects(hook.instance, "queue").filter(
        pk__in=[r.pk for r in batch]).delete() and None)
    settle(lambda: Client().post(f"/sandbox/mautic/inbox/{stat.pk}/open/"))
    assert not EmailActivity.objects.filter(kind="opened").exists()
    assert jobs.reconcile_activity() == 1
    assert EmailActivity.objects.get(kind="opened").source == "reconciliation"
    assert any("ouvert par" in m for m in timeline(overdue))
    assert jobs.reconcile_activity() == 0  # the send came by webhook, the open now: nothing twice


def test_payment_stops_dunning_and_moves_the_contact_to_payes(connection, overdue, accountant, settle, instance):
    click(overdue, accountant, settle)
    overdue.status = Invoice.Status.PAID
    overdue.amount_paid = overdue.total
    settle(overdue.save)
    assert DunningStop.objects.get(invoice=overdue).reason == "facture payée"
    assert "La facture est payée" in SendInvoiceReminder().unavailable_reason(overdue, accountant)
    assert set(SegmentMembership.objects.values_list("segment", flat=True)) == {"clients", "payes"}
    contact = records.objects(instance, "contact").get()
    relances = records.objects(instance, "segment").get(data__alias="relances-en-cours")
    assert relances.pk not in contact.data["segments"]
    assert any("Relances Mautic arrêtées" in m for m in timeline(overdue))


def test_level_two_goes_once_its_delay_has_passed(connection, overdue, accountant, settle, instance):
    click(overdue, accountant, settle)
    Invoice.objects.filter(pk=overdue.pk).update(due_date=timezone.localdate() - timedelta(days=16))
    overdue.refresh_from_db()
    run = click(overdue, accountant, settle)
    assert run.status == ActionRun.Status.SUCCEEDED and run.message.startswith("2e relance")
    assert list(ReminderSend.objects.values_list("level", flat=True)) == [1, 2]
    subjects = list(records.objects(instance, "stat").values_list("data__subject", flat=True))
    assert subjects[1].startswith("Relance 2")
    assert WebhookEvent.objects.filter(status=WebhookEvent.Status.PROCESSED).exists()


def test_the_payment_link_token_is_invoice_ninjas_portal_link(connection, overdue):
    from apps.core.models import Connection as Conn
    from apps.invoiceninja.models import InvoiceLink, InvoiceMirror
    from apps.mautic import dunning

    ninja = Conn.objects.create(provider="invoiceninja", name="IN", slug="in", base_url="https://in.example.test",
                                secrets={"api_token": "t"})
    InvoiceLink.objects.create(connection=ninja, invoice=overdue, external_id="Wpmbk5ezJn")
    InvoiceMirror.objects.create(connection=ninja, external_id="Wpmbk5ezJn", content_hash="x", payload={
        "invitations": [{"key": "k", "link": "https://in.example.test/client/invoice/k"}]})
    assert dunning.tokens(overdue, connection)["{payment_link}"] == "https://in.example.test/client/invoice/k"


def test_a_contact_deleted_in_mautic_is_created_again_and_the_reminder_goes(connection, overdue, accountant, settle,
                                                                            instance):
    from apps.mautic import contacts
    from apps.mautic.client import MauticClient

    link = contacts.push(connection, MauticClient(connection), overdue.company.contacts.get())
    records.objects(instance, "contact").filter(pk=link.mautic_id).delete()
    run = click(overdue, accountant, settle)
    assert run.status == ActionRun.Status.SUCCEEDED, run.message
    link.refresh_from_db()
    assert records.objects(instance, "contact").get().pk == link.mautic_id
    assert records.objects(instance, "stat").get().data["lead_id"] == link.mautic_id


def test_on_the_client_each_overdue_invoice_gets_its_next_level(connection, overdue, accountant, settle, instance):
    second = Invoice.objects.create(company=overdue.company, number="FAC-2026-0050", status=Invoice.Status.SENT,
                                    due_date=timezone.localdate() - timedelta(days=3))
    second.lines.create(position=0, description="Pains", quantity=2, unit_price="50.00")
    second.recalculate_totals()
    Invoice.objects.create(company=overdue.company, number="FAC-2026-0060", status=Invoice.Status.SENT,
                           due_date=timezone.localdate() + timedelta(days=10))
    run, _created = settle(lambda: actions.start(actions.get("mautic.send_client_reminders"), overdue.company,
                                                 accountant, actions_key()))
    run.refresh_from_db()
    assert run.status == ActionRun.Status.SUCCEEDED, run.message
    assert "FAC-2026-0042 (1re relance)" in run.message and "FAC-2026-0050 (1re relance)" in run.message
    assert "FAC-2026-0060" not in run.message
    assert records.objects(instance, "stat").count() == 2
    assert "Aucune facture de ce client n'attend de relance." in \
        actions.get("mautic.send_client_reminders").unavailable_reason(overdue.company, accountant)


def test_suppliers_contacts_are_not_pushed(connection, settle, instance):
    from apps.hub.models import Company, Contact

    supplier = Company.objects.create(name="Imprimerie", is_client=False, is_supplier=True)
    settle(lambda: Contact.objects.create(company=supplier, first_name="Jo", email="jo@imprimerie.example"))
    assert records.objects(instance, "contact").count() == 0


@pytest.mark.parametrize("mautic_acted", [True, False])
def test_a_send_mautic_did_not_answer_is_settled_by_the_reconciliation(connection, overdue, accountant, settle,
                                                                       instance, mautic_acted, monkeypatch):
    from apps.mautic.sandbox import records as sandbox_records

    # The send's webhook is lost too (Mautic never retries): only the activity API can tell.
    monkeypatch.setattr(delivery, "post", lambda hook, batch: None)
    email_id = connection.config["reminder_emails"]["1"]
    OUTAGES[f"/sandbox/mautic/api/emails/{email_id}/contact/"] = "acted, answer lost" if mautic_acted \
        else "read timeout"
    run = click(overdue, accountant, settle)
    OUTAGES.clear()
    assert run.status == ActionRun.Status.FAILED and "n'a pas confirmé l'envoi" in run.message
    assert ReminderSend.objects.get(invoice=overdue).status == ReminderSend.Status.SENDING
    assert "attend la confirmation de Mautic" in SendInvoiceReminder().unavailable_reason(overdue, accountant)

    ReminderSend.objects.update(created_at=timezone.now() - timedelta(hours=1))
    jobs.reconcile_activity()
    reminder = ReminderSend.objects.get(invoice=overdue)
    if mautic_acted:
        assert reminder.status == ReminderSend.Status.SENT  # seen in the contact's activity
        assert "1re relance a déjà été envoyée" in SendInvoiceReminder().unavailable_reason(overdue, accountant)
    else:
        assert reminder.status == ReminderSend.Status.FAILED
        assert any("jamais confirmé" in m for m in timeline(overdue))
        run = click(overdue, accountant, settle)
        assert run.status == ActionRun.Status.SUCCEEDED, run.message
    assert sandbox_records.objects(instance, "stat").count() == 1
