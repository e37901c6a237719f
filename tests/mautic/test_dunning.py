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
    assert run.message == ("Relance refusée : le contact s'est désinscrit des e-mails (Paul@Boulangerie.example). "
                           "Mautic l'enverrait malgré tout : la console ne l'envoie pas.")
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
    assert run.message == "Le modèle de la 1re relance (e-mail Mautic n° 999) est introuvable dans Mautic."
    assert run.status == ActionRun.Status.FAILED
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


# What the accountant confirms -----------------------------------------------------------------------------------
def test_the_confirmation_names_the_recipient_the_level_the_amount_due_and_the_mautic_email(connection, overdue):
    from django.utils import formats

    email_id = connection.config["reminder_emails"]["1"]
    due = formats.date_format(overdue.due_date, "SHORT_DATE_FORMAT")
    assert SendInvoiceReminder().confirmation_details(overdue) == [
        ("Destinataire", "Paul Martin <Paul@Boulangerie.example>"), ("Niveau", "1re relance"),
        ("Montant dû", "768.00 EUR"), ("Échéance", due), ("E-mail Mautic", f"n° {email_id}")]
    for level in (1, 2, 3):
        ReminderSend.objects.create(connection=connection, invoice=overdue, level=level, email_id=1,
                                    status=ReminderSend.Status.SENT)
    overdue.company.contacts.update(email="")
    Invoice.objects.filter(pk=overdue.pk).update(due_date=None)
    overdue.refresh_from_db()
    assert SendInvoiceReminder().confirmation_details(overdue) == [
        ("Destinataire", "—"), ("Niveau", "—"), ("Montant dû", "768.00 EUR"), ("Échéance", "—")]


def test_without_a_mautic_connection_the_confirmation_names_no_mautic_email(db, overdue):
    assert [label for label, _value in SendInvoiceReminder().confirmation_details(overdue)] == [
        "Destinataire", "Niveau", "Montant dû", "Échéance"]


def test_a_level_without_its_mautic_email_is_shown_as_missing_before_confirming(connection, overdue):
    connection.config = {**connection.config, "reminder_emails": {"2": 5}}
    connection.save()
    assert dict(SendInvoiceReminder().confirmation_details(overdue))["E-mail Mautic"] == "n° —"


def test_the_client_confirmation_lists_each_invoice_awaiting_a_reminder_with_its_level_and_amount(connection, overdue):
    second = Invoice.objects.create(company=overdue.company, number="", status=Invoice.Status.SENT,
                                    due_date=timezone.localdate() - timedelta(days=20))
    second.lines.create(position=0, description="Pains", quantity=2, unit_price="50.00")
    second.recalculate_totals()
    Invoice.objects.filter(pk=second.pk).update(status=Invoice.Status.PARTIAL)
    ReminderSend.objects.create(connection=connection, invoice=second, level=1, email_id=1,
                                status=ReminderSend.Status.SENT,
                                sent_at=timezone.now() - timedelta(days=10))
    Invoice.objects.create(company=overdue.company, number="FAC-PAS-ECHUE", status=Invoice.Status.SENT,
                           due_date=timezone.localdate() + timedelta(days=3))
    too_soon = Invoice.objects.create(company=overdue.company, number="FAC-TROP-TOT", status=Invoice.Status.SENT,
                                      due_date=timezone.localdate() - timedelta(days=6))
    ReminderSend.objects.create(connection=connection, invoice=too_soon, level=1, email_id=1,
                                status=ReminderSend.Status.SENT)  # its 2nd level waits for day 15
    from apps.hub.models import Company, Contact

    other = Company.objects.create(name="Fromagerie")  # another client, with someone to remind: not listed here
    Contact.objects.create(company=other, first_name="Léa", email="lea@fromagerie.example", is_primary=True)
    Invoice.objects.create(company=other, number="FAC-AUTRE-CLIENT",
                           status=Invoice.Status.SENT, due_date=timezone.localdate() - timedelta(days=9))
    details = actions.get("mautic.send_client_reminders").confirmation_details(overdue.company)
    assert details == [("Destinataire", "Paul Martin <Paul@Boulangerie.example>"),
                       (f"Facture {second.pk}", "2e relance — 120.00 EUR"),
                       ("Facture FAC-2026-0042", "1re relance — 768.00 EUR")]


def test_a_client_reminder_reports_what_went_and_why_the_others_did_not(connection, overdue, accountant, settle,
                                                                        instance):
    late = Invoice.objects.create(company=overdue.company, number="FAC-2026-0051", status=Invoice.Status.SENT,
                                  due_date=timezone.localdate() - timedelta(days=4))
    ReminderSend.objects.create(connection=connection, invoice=late, level=1, email_id=1,
                                status=ReminderSend.Status.SENDING)
    Invoice.objects.create(company=overdue.company, number="FAC-2026-0070", status=Invoice.Status.SENT,
                           due_date=timezone.localdate() + timedelta(days=4))
    run, _created = settle(lambda: actions.start(actions.get("mautic.send_client_reminders"), overdue.company,
                                                 accountant, actions_key()))
    run.refresh_from_db()
    assert run.status == ActionRun.Status.SUCCEEDED, run.message
    assert run.message == ("Relances envoyées : FAC-2026-0042 (1re relance). Non envoyées : FAC-2026-0051 : La 1re "
                           "relance attend la confirmation de Mautic (envoi non confirmé) : rien n'est renvoyé avant "
                           "la vérification.")
    assert run.external_ids["invoices_done"] == [overdue.pk]
    assert records.objects(instance, "stat").count() == 1


def test_a_client_reminder_with_nothing_sent_fails_with_the_reasons(connection, overdue, accountant, settle,
                                                                   instance):
    mautic_contact = records.create(instance, "contact", {"fields": {"email": "paul@boulangerie.example"}, "dnc": []})
    records.add_dnc(mautic_contact, 2)
    run, _created = settle(lambda: actions.start(actions.get("mautic.send_client_reminders"), overdue.company,
                                                 accountant, actions_key()))
    run.refresh_from_db()
    assert run.status == ActionRun.Status.FAILED
    assert run.message.startswith("Aucune relance envoyée. FAC-2026-0042 : Relance refusée : l'adresse du contact est "
                                  "en erreur (bounce) (Paul@Boulangerie.example).")
    assert records.objects(instance, "stat").count() == 0


def test_a_resumed_client_reminder_skips_the_invoices_it_already_reminded(connection, overdue, accountant, instance):
    from apps.mautic.actions import SendClientReminders

    later = Invoice.objects.create(company=overdue.company, number="FAC-2026-0050", status=Invoice.Status.SENT,
                                   issue_date=overdue.issue_date - timedelta(days=1),
                                   due_date=timezone.localdate() - timedelta(days=3))
    run, _created = actions.start(actions.get("mautic.send_client_reminders"), overdue.company, accountant,
                                  actions_key())
    actions.save_progress(run, invoices_done=[overdue.pk])
    outcome = SendClientReminders().run(overdue.company, run)
    assert outcome.message == "Relances envoyées : FAC-2026-0050 (1re relance)."
    assert list(ReminderSend.objects.values_list("invoice", flat=True)) == [later.pk]
    assert records.objects(instance, "stat").count() == 1


def test_a_client_reminder_leaves_other_clients_and_paid_invoices_alone(connection, overdue, accountant, instance):
    from apps.hub.models import Company, Contact
    from apps.mautic.actions import SendClientReminders

    other = Company.objects.create(name="Fromagerie")
    Contact.objects.create(company=other, first_name="Léa", email="lea@fromagerie.example", is_primary=True)
    Invoice.objects.create(company=other, number="FAC-AUTRE", status=Invoice.Status.SENT,
                           due_date=timezone.localdate() - timedelta(days=9))
    run, _created = actions.start(actions.get("mautic.send_client_reminders"), overdue.company, accountant,
                                  actions_key())
    # Its first send was interrupted unconfirmed, then the invoice was paid: the resumed run does not send it.
    ReminderSend.objects.create(connection=connection, invoice=overdue, level=1, email_id=1, action_run_id=run.pk)
    Invoice.objects.filter(pk=overdue.pk).update(status=Invoice.Status.PAID, amount_paid=overdue.total)
    with pytest.raises(actions.ActionFailed) as refusal:
        SendClientReminders().run(overdue.company, run)
    assert str(refusal.value) == "Aucune relance envoyée. "
    assert records.objects(instance, "stat").count() == 0


def test_without_an_active_connection_no_reminder_is_attempted(db, overdue, accountant):
    from apps.mautic.actions import SendClientReminders

    for action, record in ((SendClientReminders(), overdue.company), (SendInvoiceReminder(), overdue)):
        with pytest.raises(actions.ActionFailed) as refusal:
            action.run(record, ActionRun())
        assert str(refusal.value) == "Aucune connexion Mautic active."


# Thanking a client who paid -------------------------------------------------------------------------------------
@pytest.fixture
def paid(overdue):
    Invoice.objects.filter(pk=overdue.pk).update(status=Invoice.Status.PAID, amount_paid=overdue.total)
    overdue.refresh_from_db()
    return overdue


@pytest.fixture
def thanks_email(connection, instance):
    email = records.ensure_emails(instance)[0]
    connection.config = {**connection.config, "thank_you_email": str(email.pk)}
    connection.save()
    return email


def thank(invoice, user, settle) -> ActionRun:
    run, _created = settle(lambda: actions.start(actions.get("mautic.send_thanks"), invoice, user, actions_key()))
    run.refresh_from_db()
    return run


def test_a_paid_invoice_s_client_is_thanked_once_by_the_configured_email(connection, paid, accountant, settle,
                                                                         instance, thanks_email):
    run = thank(paid, accountant, settle)
    assert run.status == ActionRun.Status.SUCCEEDED, run.message
    assert run.message == "Remerciement envoyé à Paul@Boulangerie.example."
    stat = records.objects(instance, "stat").get()
    link = ContactLink.objects.get()
    assert (stat.data["email_id"], stat.data["lead_id"]) == (thanks_email.pk, link.mautic_id)
    assert "FAC-2026-0042" in stat.data["content"]  # the invoice's tokens, as in a reminder
    assert run.external_ids == {"thanked": True, "mautic_email_id": thanks_email.pk,
                                "mautic_contact_id": link.mautic_id}
    [entry] = TimelineEntry.objects.filter(object_id=str(paid.pk), provider="mautic",
                                           message__startswith="Remerciement")
    assert entry.message == "Remerciement pour le paiement envoyé par Mautic à Paul@Boulangerie.example."
    assert (entry.level, entry.external_ids) == (TimelineEntry.Level.SUCCESS, {"mautic_email_id": thanks_email.pk})
    # The run resumed after its send (a worker restarted): nothing goes twice.
    assert actions.get("mautic.send_thanks").run(paid, run).message == "Remerciement déjà envoyé."
    assert records.objects(instance, "stat").count() == 1


def test_thanks_are_offered_only_for_a_paid_invoice_with_an_email_configured_and_someone_to_thank(
        connection, overdue, accountant, thanks_email):
    action = actions.get("mautic.send_thanks")
    assert not action.applies_to(overdue)  # not paid yet
    Invoice.objects.filter(pk=overdue.pk).update(status=Invoice.Status.PAID)
    overdue.refresh_from_db()
    assert action.applies_to(overdue)
    overdue.company.contacts.update(email="")
    assert not action.applies_to(overdue)
    overdue.company.contacts.update(email="paul@boulangerie.example")
    for configured in ("", "pas-un-numéro", None):
        connection.config = {**connection.config, "thank_you_email": configured}
        connection.save()
        assert not action.applies_to(overdue)
    connection.delete()
    assert not action.applies_to(overdue)


def test_thanks_without_a_thank_you_email_configured_say_so(connection, paid):
    from apps.core.models import ActionRun as Run
    from apps.mautic.actions import SendPaymentThanks

    with pytest.raises(actions.ActionFailed) as refusal:
        SendPaymentThanks().run(paid, Run())
    assert str(refusal.value) == "Aucun e-mail de remerciement Mautic n'est configuré (thank_you_email)."


@pytest.mark.parametrize("reason, said", [(1, "le contact s'est désinscrit des e-mails"),
                                          (3, "le contact est marqué « ne pas contacter »"),
                                          (9, "le contact est marqué « ne pas contacter »")])
def test_a_client_who_asked_not_to_be_contacted_is_not_thanked(connection, paid, accountant, settle, instance,
                                                               thanks_email, reason, said):
    mautic_contact = records.create(instance, "contact", {"fields": {"email": "paul@boulangerie.example"}, "dnc": []})
    records.add_dnc(mautic_contact, reason)
    run = thank(paid, accountant, settle)
    assert run.status == ActionRun.Status.FAILED
    assert run.message == f"Remerciement non envoyé : {said} (Paul@Boulangerie.example)."
    assert records.objects(instance, "stat").count() == 0


def test_thanks_mautic_could_not_send_are_said_with_its_reason(connection, paid, accountant, settle, instance,
                                                               thanks_email, monkeypatch):
    from apps.mautic.client import MauticClient

    monkeypatch.setattr(MauticClient, "send_email_to_contact",
                        lambda self, email_id, contact_id, tokens: {"success": False, "failed": "quota dépassé"})
    run = thank(paid, accountant, settle)
    assert (run.status, run.message) == (ActionRun.Status.FAILED, "Mautic n'a pas envoyé l'e-mail : quota dépassé")
    assert "thanked" not in run.external_ids
    monkeypatch.setattr(MauticClient, "send_email_to_contact", lambda self, email_id, contact_id, tokens: {})
    assert thank(paid, accountant, settle).message == "Mautic n'a pas envoyé l'e-mail : ?"


def test_thanks_to_an_invalid_address_or_with_mautic_down_fail_in_french(connection, paid, accountant, settle,
                                                                         instance, thanks_email):
    OUTAGES[f"/sandbox/mautic/api/emails/{thanks_email.pk}/contact/"] = 503
    run = thank(paid, accountant, settle)
    OUTAGES.clear()
    assert run.status == ActionRun.Status.FAILED
    assert "Service Unavailable" in run.message and "None" not in run.message
    paid.company.contacts.update(email="paul@")
    run = thank(paid, accountant, settle)
    assert run.message == "Adresse e-mail invalide pour « Paul Martin » : paul@."
    assert records.objects(instance, "stat").count() == 0


# One reminder per level, whatever happens to the send --------------------------------------------------------------
def test_a_sent_reminder_records_its_ids_its_time_and_the_email_s_subject(connection, overdue, accountant, settle,
                                                                          instance):
    run = click(overdue, accountant, settle)
    assert run.status == ActionRun.Status.SUCCEEDED, run.message
    reminder = ReminderSend.objects.get(invoice=overdue)
    link = ContactLink.objects.get()
    email_id = connection.config["reminder_emails"]["1"]
    assert (reminder.email_id, reminder.link, reminder.action_run_id) == (email_id, link, run.pk)
    assert reminder.sent_at is not None and reminder.tokens["{invoice_number}"] == "FAC-2026-0042"
    assert run.message == "1re relance envoyée à Paul@Boulangerie.example."
    assert run.external_ids == {"mautic_contact_id": link.mautic_id, "mautic_email_id": email_id,
                                "reminder_level": 1}
    subject = records.objects(instance, "email").get(pk=email_id).data["subject"]
    entry = TimelineEntry.objects.get(object_id=str(link.contact.pk), message__startswith="1re relance")
    assert entry.message == f"1re relance de la facture FAC-2026-0042 envoyée par Mautic (« {subject} »)."
    assert (entry.external_ids, entry.provider, entry.level) == (
        {"mautic_email_id": email_id}, "mautic", TimelineEntry.Level.SUCCESS)


@pytest.mark.parametrize("blanked", [("subject",), ("subject", "name")])
def test_a_mautic_email_without_a_subject_is_named_by_its_name_else_by_its_id_in_the_timeline(
        connection, overdue, accountant, settle, instance, blanked):
    email_id = connection.config["reminder_emails"]["1"]
    email = records.objects(instance, "email").get(pk=email_id)
    named = f"#{email_id}" if "name" in blanked else email.data["name"]
    email.data = {**email.data, **dict.fromkeys(blanked, "")}
    email.save()
    run = click(overdue, accountant, settle)
    assert run.status == ActionRun.Status.SUCCEEDED, run.message
    entry = TimelineEntry.objects.get(provider="mautic", message__startswith="1re relance")
    assert entry.message == f"1re relance de la facture FAC-2026-0042 envoyée par Mautic (« {named} »)."


def test_a_run_resumed_after_its_worker_died_mid_send_sends_the_claimed_level_once(connection, overdue, accountant,
                                                                                   instance):
    """Claimed without a contact link (its link was deleted since): the resumed send records the link it went
    through and names its address."""
    run, _created = actions.start(actions.get(ACTION), overdue, accountant, actions_key())
    ReminderSend.objects.create(connection=connection, invoice=overdue, level=1, action_run_id=run.pk,
                                email_id=connection.config["reminder_emails"]["1"])
    outcome = SendInvoiceReminder().run(overdue, run)
    assert outcome.message == "1re relance envoyée à Paul@Boulangerie.example."
    reminder = ReminderSend.objects.get()
    assert (reminder.level, reminder.status) == (1, ReminderSend.Status.SENT)
    assert reminder.link == ContactLink.objects.get(contact=overdue.company.contacts.get())
    assert records.objects(instance, "stat").count() == 1


def test_a_level_without_its_mautic_email_is_refused_naming_the_level_and_the_connection(connection, overdue,
                                                                                         accountant, settle,
                                                                                         instance):
    connection.config = {**connection.config, "reminder_emails": {"2": 1}}
    connection.save()
    run = click(overdue, accountant, settle)
    assert (run.status, run.message) == (ActionRun.Status.FAILED, "Aucun e-mail Mautic n'est associé à la 1re "
                                         "relance dans la connexion « Mautic » (reminder_emails).")
    assert records.objects(instance, "stat").count() == 0


def test_a_second_worker_claiming_the_same_level_first_wins_and_the_other_says_so(connection, overdue, accountant,
                                                                                  settle, instance, monkeypatch):
    from apps.mautic.client import MauticClient

    read_email = MauticClient.get_email

    def other_worker_claims_meanwhile(self, email_id):
        ReminderSend.objects.create(connection=connection, invoice=overdue, level=1, email_id=email_id)
        return read_email(self, email_id)

    monkeypatch.setattr(MauticClient, "get_email", other_worker_claims_meanwhile)
    run = click(overdue, accountant, settle)
    assert (run.status, run.message) == (ActionRun.Status.FAILED,
                                         "La 1re relance de cette facture a déjà été envoyée ou est en cours d'envoi.")
    assert records.objects(instance, "stat").count() == 0


def test_a_send_mautic_refused_frees_the_level_for_another_try(connection, overdue, accountant, settle, instance):
    email_id = connection.config["reminder_emails"]["1"]
    OUTAGES[f"/sandbox/mautic/api/emails/{email_id}/contact/"] = 400
    run = click(overdue, accountant, settle)
    OUTAGES.clear()
    assert run.status == ActionRun.Status.FAILED and run.message.startswith("Mautic : ")
    assert not ReminderSend.objects.exists()
    assert click(overdue, accountant, settle).status == ActionRun.Status.SUCCEEDED
    assert records.objects(instance, "stat").count() == 1


def test_an_unconfirmed_send_keeps_the_error_for_the_reconciliation(connection, overdue, accountant, settle):
    email_id = connection.config["reminder_emails"]["1"]
    OUTAGES[f"/sandbox/mautic/api/emails/{email_id}/contact/"] = 502
    run = click(overdue, accountant, settle)
    OUTAGES.clear()
    assert run.message.startswith("Mautic n'a pas confirmé l'envoi (")
    reminder = ReminderSend.objects.get()
    assert reminder.status == ReminderSend.Status.SENDING and reminder.error and reminder.error in run.message
    # The failed run says what it tried to send, and to whom, for whoever reads it before the reconciliation.
    link = ContactLink.objects.get()
    assert {key: run.external_ids[key] for key in ("mautic_email_id", "reminder_level", "mautic_contact_id")} == {
        "mautic_email_id": email_id, "reminder_level": 1, "mautic_contact_id": link.mautic_id}


@pytest.mark.parametrize(("answer", "message"), [
    ({"success": False}, "Mautic n'a pas envoyé l'e-mail : ?"),
    ({"success": False, "failed": "adresse refusée"}, "Mautic n'a pas envoyé l'e-mail : adresse refusée"),
])
def test_a_send_mautic_answers_as_failed_frees_the_level_and_says_why(connection, overdue, accountant, settle,
                                                                      monkeypatch, answer, message):
    from apps.mautic.client import MauticClient

    monkeypatch.setattr(MauticClient, "send_email_to_contact", lambda self, email_id, contact_id, tokens: answer)
    run = click(overdue, accountant, settle)
    assert (run.status, run.message) == (ActionRun.Status.FAILED, message)
    assert not ReminderSend.objects.exists()


def test_a_long_unconfirmed_send_error_is_kept_cut_at_500_characters(connection, overdue, accountant, settle,
                                                                      monkeypatch):
    from apps.core.http import ServerError
    from apps.mautic.client import MauticClient

    def unconfirmed(self, email_id, contact_id, tokens):
        raise ServerError("Mautic : " + "x" * 600, status=502, maybe_sent=True)

    monkeypatch.setattr(MauticClient, "send_email_to_contact", unconfirmed)
    run = click(overdue, accountant, settle)
    assert run.status == ActionRun.Status.FAILED
    assert ReminderSend.objects.get().error == ("Mautic : " + "x" * 600)[:500]


def test_segments_mautic_could_not_update_are_noted_and_the_reminder_still_counts(connection, overdue, accountant,
                                                                                  settle, instance, monkeypatch):
    from apps.core.http import ServerError
    from apps.mautic.client import MauticClient

    def segments_down(self, *args, **kwargs):
        raise ServerError("HTTP 503", status=503)

    monkeypatch.setattr(MauticClient, "contact_segment_aliases", segments_down)
    run = click(overdue, accountant, settle)
    assert run.status == ActionRun.Status.SUCCEEDED, run.message
    assert ReminderSend.objects.get().status == ReminderSend.Status.SENT
    assert ContactLink.objects.get().last_error == "Segments non mis à jour : HTTP 503"


def test_a_contact_who_unsubscribes_while_a_reminder_goes_out_stays_unsubscribed(
        connection, overdue, accountant, instance, monkeypatch, django_capture_on_commit_callbacks):
    from apps.core.http import ServerError
    from apps.mautic.client import MauticClient

    def unsubscribed_meanwhile_then_segments_down(self, *args, **kwargs):
        # The contact unsubscribes in Mautic, and another worker records it from Mautic's webhook, while this one
        # updates the reminder's segments.
        records.add_dnc(records.get(instance, "contact", ContactLink.objects.get().mautic_id), 1)
        ContactLink.objects.update(unsubscribed=True, do_not_contact=True)
        raise ServerError("HTTP 503", status=503)

    monkeypatch.setattr(MauticClient, "contact_segment_aliases", unsubscribed_meanwhile_then_segments_down)
    with django_capture_on_commit_callbacks(execute=True):
        run, _created = actions.start(actions.get(ACTION), overdue, accountant, actions_key())
    run_jobs("default")  # the action alone: the sandbox's webhooks of the contact's creation stay unsent
    run.refresh_from_db()
    assert run.status == ActionRun.Status.SUCCEEDED, run.message
    link = ContactLink.objects.get()
    assert (link.unsubscribed, link.last_error) == (True, "Segments non mis à jour : HTTP 503")
    assert link.refusal_reason == "le contact s'est désinscrit des e-mails dans Mautic"


def test_an_unknown_do_not_contact_reason_reads_as_do_not_contact(connection, overdue, accountant, settle, instance):
    mautic_contact = records.create(instance, "contact", {"fields": {"email": "paul@boulangerie.example"}, "dnc": []})
    records.add_dnc(mautic_contact, 9)
    run = click(overdue, accountant, settle)
    assert run.status == ActionRun.Status.FAILED
    assert run.message.startswith("Relance refusée : le contact est marqué « ne pas contacter » (")


def test_a_client_without_any_email_is_shown_as_nobody_before_confirming(connection, overdue):
    overdue.company.contacts.update(email="")
    assert actions.get("mautic.send_client_reminders").confirmation_details(overdue.company)[0] == (
        "Destinataire", "—")


def test_the_client_button_says_when_nothing_awaits_a_reminder_and_who_may_not_send(connection, overdue, accountant):
    from django.contrib.auth.models import User

    action = actions.get("mautic.send_client_reminders")
    assert action.unavailable_reason(overdue.company, accountant) is None
    viewer = User.objects.create_user("lecteur", password="x", is_staff=True)
    assert action.unavailable_reason(overdue.company, viewer) == "Vous n'avez pas la permission requise."
    Invoice.objects.filter(pk=overdue.pk).update(due_date=timezone.localdate() + timedelta(days=1))
    assert action.unavailable_reason(overdue.company, accountant) == "Aucune facture de ce client n'attend de relance."


def test_a_client_reminder_lists_every_invoice_sent_and_every_one_refused(connection, overdue, accountant, settle,
                                                                         instance):
    second = Invoice.objects.create(company=overdue.company, number="FAC-2026-0050", status=Invoice.Status.SENT,
                                    due_date=timezone.localdate() - timedelta(days=3))
    for number in ("FAC-2026-0051", "FAC-2026-0052"):
        waiting = Invoice.objects.create(company=overdue.company, number=number, status=Invoice.Status.SENT,
                                         due_date=timezone.localdate() - timedelta(days=4))
        ReminderSend.objects.create(connection=connection, invoice=waiting, level=1, email_id=1,
                                    status=ReminderSend.Status.SENDING)
    run, _created = settle(lambda: actions.start(actions.get("mautic.send_client_reminders"), overdue.company,
                                                 accountant, actions_key()))
    run.refresh_from_db()
    waits = "La 1re relance attend la confirmation de Mautic (envoi non confirmé) : rien n'est renvoyé avant la " \
            "vérification."
    sent = sorted(["FAC-2026-0042 (1re relance)", "FAC-2026-0050 (1re relance)"])
    assert run.message.startswith("Relances envoyées : ")
    done, refused = run.message.removeprefix("Relances envoyées : ").split(". Non envoyées : ")
    assert sorted(done.split(", ")) == sent
    assert sorted(refused.split(" ; ")) == [f"FAC-2026-0051 : {waits}", f"FAC-2026-0052 : {waits}"]
    assert second.pk in run.external_ids["invoices_done"]

    # Every reminder now waits for Mautic's confirmation: nothing goes, and each invoice says why.
    from apps.mautic.actions import SendClientReminders

    ReminderSend.objects.update(status=ReminderSend.Status.SENDING)
    with pytest.raises(actions.ActionFailed) as nothing_sent:
        SendClientReminders().run(overdue.company, ActionRun())
    refused = str(nothing_sent.value).removeprefix("Aucune relance envoyée. ").split(" ; ")
    assert sorted(refused) == [f"FAC-2026-00{n} : {waits}" for n in (42, 50, 51, 52)]


def test_a_client_reminder_with_mautic_down_says_mautic_s_error(connection, overdue, accountant, settle):
    OUTAGES["/sandbox/mautic/api/contacts"] = 503
    run, _created = settle(lambda: actions.start(actions.get("mautic.send_client_reminders"), overdue.company,
                                                 accountant, actions_key()))
    OUTAGES.clear()
    run.refresh_from_db()
    assert run.status == ActionRun.Status.FAILED
    assert "Service Unavailable" in run.message and "None" not in run.message


def test_each_mautic_failure_reads_in_french_and_says_whether_the_reminder_may_have_gone():
    from apps.core.http import ClientError, NetworkError, ServerError
    from apps.mautic.actions import failure
    from apps.mautic.client import ApiDisabled, BasicAuthDisabled

    unconfirmed = ("Mautic n'a pas confirmé l'envoi ({error}). La relance n'est pas proposée de nouveau tant que le "
                   "rattrapage n'a pas vérifié si elle est partie.")
    cases = [
        (ApiDisabled("L'API de Mautic est désactivée.", status=403), "L'API de Mautic est désactivée."),
        (BasicAuthDisabled("L'authentification Basic est désactivée.", status=403),
         "L'authentification Basic est désactivée."),
        (NetworkError("read timeout", maybe_sent=True), unconfirmed.format(error="read timeout")),
        (ServerError("HTTP 502", status=502, maybe_sent=True), unconfirmed.format(error="HTTP 502")),
        (NetworkError("refused", maybe_sent=False), "Mautic : refused"),
        (ClientError("Bad request", status=400, maybe_sent=True), "Mautic : Bad request"),
    ]
    for error, message in cases:
        assert str(failure(error)) == message


def test_a_reminder_with_mautic_down_says_mautic_s_error(connection, overdue, accountant, settle):
    OUTAGES["/sandbox/mautic/api/contacts"] = 503
    run = click(overdue, accountant, settle)
    OUTAGES.clear()
    assert run.status == ActionRun.Status.FAILED
    assert "Service Unavailable" in run.message and "None" not in run.message


def test_a_thank_you_whose_worker_died_right_after_the_send_keeps_which_email_went_to_whom(
        connection, paid, accountant, instance, thanks_email, monkeypatch):
    from apps.mautic.actions import SendPaymentThanks

    run, _created = actions.start(actions.get("mautic.send_thanks"), paid, accountant, actions_key())

    def the_worker_dies(*args, **kwargs):
        raise SystemExit("worker killed")

    monkeypatch.setattr(TimelineEntry, "record", the_worker_dies)
    with pytest.raises(SystemExit):
        SendPaymentThanks().run(paid, run)
    run.refresh_from_db()
    link = ContactLink.objects.get()
    assert run.external_ids == {"thanked": True, "mautic_email_id": thanks_email.pk,
                                "mautic_contact_id": link.mautic_id}
    assert records.objects(instance, "stat").count() == 1


def test_a_reminder_to_an_address_mautic_refuses_says_which_address(connection, overdue, accountant, settle,
                                                                     instance):
    overdue.company.contacts.update(email="paul@")
    run = click(overdue, accountant, settle)
    assert run.status == ActionRun.Status.FAILED
    assert run.message == "Adresse e-mail invalide pour « Paul Martin » : paul@."
    assert records.objects(instance, "stat").count() == 0


def test_a_client_reminder_does_not_send_a_level_before_its_delay(connection, overdue, accountant, settle,
                                                                   instance):
    click(overdue, accountant, settle)
    other = Invoice.objects.create(company=overdue.company, number="FAC-2026-0050", status=Invoice.Status.SENT,
                                   due_date=timezone.localdate() - timedelta(days=3))
    run, _created = settle(lambda: actions.start(actions.get("mautic.send_client_reminders"), overdue.company,
                                                 accountant, actions_key()))
    run.refresh_from_db()
    assert run.status == ActionRun.Status.SUCCEEDED, run.message
    assert run.message.startswith("Relances envoyées : FAC-2026-0050 (1re relance). Non envoyées : FAC-2026-0042 : "
                                  "La 1re relance a déjà été envoyée le ")
    assert sorted(ReminderSend.objects.values_list("invoice", "level")) == sorted([(overdue.pk, 1), (other.pk, 1)])
    assert records.objects(instance, "stat").count() == 2


def test_a_contact_whose_address_was_cleared_in_mautic_is_refused_naming_the_console_s_address(
        connection, overdue, accountant, settle, instance):
    click(overdue, accountant, settle)
    mautic_contact = records.objects(instance, "contact").get()
    mautic_contact.data["fields"]["email"] = ""
    mautic_contact.save()
    records.add_dnc(mautic_contact, 2)
    Invoice.objects.filter(pk=overdue.pk).update(due_date=timezone.localdate() - timedelta(days=16))
    overdue.refresh_from_db()
    run = click(overdue, accountant, settle)
    assert run.message == ("Relance refusée : l'adresse du contact est en erreur (bounce) (Paul@Boulangerie.example). "
                           "Mautic l'enverrait malgré tout : la console ne l'envoie pas.")
    assert records.objects(instance, "stat").count() == 1


def test_a_run_replayed_after_its_reminder_went_sends_nothing_more(connection, overdue, accountant, settle, instance):
    """The recovery sweep requeues a run whose worker died after the send, before the run was marked done."""
    from apps.mautic.actions import send_reminder
    from apps.mautic.client import MauticClient

    run = click(overdue, accountant, settle)
    assert run.status == ActionRun.Status.SUCCEEDED, run.message
    with pytest.raises(actions.ActionFailed, match="1re relance a déjà été envoyée"):
        send_reminder(connection, MauticClient(connection), overdue, run)
    assert records.objects(instance, "stat").count() == 1


def test_a_client_run_resumes_an_unconfirmed_send_for_its_own_invoice_only(connection, overdue, accountant,
                                                                           instance):
    """A client reminder's worker died while Mautic sent another invoice's reminder: this invoice's reminder
    is its own, and the other one still waits for Mautic's confirmation."""
    from apps.mautic.actions import send_reminder
    from apps.mautic.client import MauticClient

    other = Invoice.objects.create(company=overdue.company, number="FAC-2026-0050", status=Invoice.Status.SENT,
                                   due_date=timezone.localdate() - timedelta(days=20))
    run, _created = actions.start(actions.get("mautic.send_client_reminders"), overdue.company, accountant,
                                  actions_key())
    unconfirmed = ReminderSend.objects.create(connection=connection, invoice=other, level=1, action_run_id=run.pk,
                                              email_id=connection.config["reminder_emails"]["1"])
    reminder = send_reminder(connection, MauticClient(connection), overdue, run)
    assert (reminder.invoice_id, reminder.level, reminder.status) == (overdue.pk, 1, ReminderSend.Status.SENT)
    unconfirmed.refresh_from_db()
    assert unconfirmed.status == ReminderSend.Status.SENDING
    assert records.objects(instance, "stat").count() == 1


def test_sending_a_level_again_clears_only_that_invoice_s_unconfirmed_send(connection, overdue, accountant, settle,
                                                                            instance):
    """A send Mautic never confirmed, given up by the reconciliation, frees its level: for its own invoice."""
    other = Invoice.objects.create(company=overdue.company, number="FAC-2026-0050", status=Invoice.Status.SENT,
                                   due_date=timezone.localdate() - timedelta(days=20))
    email_id = connection.config["reminder_emails"]["1"]
    given_up = [ReminderSend.objects.create(connection=connection, invoice=invoice, level=1, email_id=email_id,
                                            status=ReminderSend.Status.FAILED, error="jamais confirmé")
                for invoice in (overdue, other)]
    run = click(overdue, accountant, settle)
    assert run.status == ActionRun.Status.SUCCEEDED, run.message
    assert not ReminderSend.objects.filter(pk=given_up[0].pk).exists()
    assert ReminderSend.objects.get(pk=given_up[1].pk).status == ReminderSend.Status.FAILED
