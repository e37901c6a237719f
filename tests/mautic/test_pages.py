"""What staff see: the hub page, the panels and button on records, the bulk confirmation, the contact's
timeline page, permissions; two workers racing on one invoice; the demo data."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth.models import Permission, User
from django.contrib.contenttypes.models import ContentType
from django.test import Client
from django.utils import translation

from apps.core import actions
from apps.core.models import ActionRun, Connection, TimelineEntry
from apps.mautic import dunning
from apps.mautic.models import ReminderSend
from apps.mautic.sandbox import records
from tests.mautic.conftest import run_jobs


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_invoice_page_offers_the_reminder_with_its_panel_and_the_hub_lists_it(connection, overdue, accountant):
    page = logged_in(accountant).get(f"/admin/hub/invoice/{overdue.pk}/change/").content.decode()
    assert "Envoyer relance Mautic" in page
    assert "Prochaine relance" in page and "1re relance" in page
    hub = logged_in(accountant).get("/mautic/").content.decode()
    assert "FAC-2026-0042" in hub and "1re relance" in hub


def test_a_paid_invoice_without_reminders_says_none_will_go(connection, overdue, accountant):
    from apps.hub.models import Invoice

    Invoice.objects.filter(pk=overdue.pk).update(status=Invoice.Status.PAID, amount_paid=overdue.total)
    page = logged_in(accountant).get(f"/admin/hub/invoice/{overdue.pk}/change/").content.decode()
    panel = page.split('id="mautic-invoice-panel"', 1)[1].split("</div>", 1)[0]
    assert "Relances arrêtées\u00a0:</strong> facture payée" in panel and "Prochaine relance" not in panel


def test_bulk_confirmation_lists_who_gets_which_level(connection, overdue, accountant, client_company):
    from apps.hub.models import Invoice

    paid = Invoice.objects.create(company=client_company, number="FAC-PAYEE", status=Invoice.Status.PAID)
    response = logged_in(accountant).post("/admin/hub/invoice/", {
        "action": "contextual:mautic.send_reminder", "_selected_action": [overdue.pk, paid.pk]})
    page = response.content.decode()
    assert response.status_code == 200
    assert "Paul@Boulangerie.example" in page and "1re relance" in page and "768.00 EUR" in page
    assert "La facture est payée" in page  # the paid one is listed as skipped, with why


def test_without_the_email_permission_there_is_no_button_and_no_run(connection, overdue, db):
    viewer = User.objects.create_user("lecteur", password="x", is_staff=True)
    viewer.user_permissions.add(*Permission.objects.filter(codename__in=["view_console", "view_invoice"]))
    viewer = User.objects.get(pk=viewer.pk)
    page = logged_in(viewer).get(f"/admin/hub/invoice/{overdue.pk}/change/").content.decode()
    assert "Envoyer relance Mautic" not in page
    with pytest.raises(actions.ActionUnavailable):
        actions.start(actions.get("mautic.send_reminder"), overdue, viewer, "viewer-key")
    assert logged_in(viewer).get("/mautic/oauth/callback/").status_code == 403


def test_contact_page_shows_its_email_history(connection, overdue, accountant, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        actions.start(actions.get("mautic.send_reminder"), overdue, accountant, "contact-page")
    for _round in range(3):
        with django_capture_on_commit_callbacks(execute=True):
            run_jobs("default", "webhooks")
    contact = overdue.company.contacts.get()
    accountant.user_permissions.add(Permission.objects.get(codename="view_contact"))
    page = logged_in(User.objects.get(pk=accountant.pk)).get(f"/mautic/contacts/{contact.pk}/").content.decode()
    assert "1re relance de la facture FAC-2026-0042 envoyée par Mautic" in page
    sent = TimelineEntry.objects.get(object_id=str(contact.pk), message__startswith="1re relance")
    with translation.override("en"):  # an English colleague reads the same entry in English
        assert sent.text.startswith("First reminder of invoice FAC-2026-0042 sent by Mautic (“")
    assert "ws-connect" in page
    company_page = logged_in(accountant).get(f"/admin/hub/company/{overdue.company.pk}/change/").content.decode()
    assert f"/mautic/contacts/{contact.pk}/" in company_page and "relances-en-cours" in company_page


def test_two_workers_past_the_check_send_one_email(connection, overdue, accountant, instance, monkeypatch):
    """Two runs of the action for one invoice (two tabs, two workers) both get past the availability check."""
    runs = [ActionRun.objects.create(action="mautic.send_reminder", label="Envoyer relance Mautic",
                                     content_type_id=ContentType.objects.get_for_model(overdue).pk,
                                     object_id=str(overdue.pk), user=accountant, idempotency_key=f"race-{n}")
            for n in range(2)]
    monkeypatch.setattr(dunning, "refusal", lambda invoice, connection: None)  # both saw "level 1 is free"
    monkeypatch.setattr(dunning, "next_level", lambda invoice: 1)
    for run in runs:
        actions.execute(run.pk)
    outcomes = sorted(ActionRun.objects.filter(pk__in=[r.pk for r in runs]).values_list("status", "message"))
    assert [status for status, _message in outcomes] == ["failed", "succeeded"]
    assert "déjà été envoyée ou est en cours d'envoi" in outcomes[0][1]
    assert records.objects(instance, "stat").count() == 1
    assert ReminderSend.objects.count() == 1
    monkeypatch.undo()
    assert "1re relance a déjà été envoyée" in dunning.refusal(overdue, connection)


def test_demo_creates_the_sandbox_connection_and_an_invoice_ready_for_a_first_reminder(
        wire, db, settings, django_capture_on_commit_callbacks):
    from apps.core.providers import get
    from apps.hub.models import Company, Contact

    settings.SANDBOX_BASE_URL = "http://testserver"
    company = Company.objects.create(name="Boulangerie Martin")
    Contact.objects.create(company=company, first_name="Paul", email="paul@boulangerie-martin.example",
                           is_primary=True)
    out = io.StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        get("mautic").seed_demo(out)
        get("mautic").seed_demo(out)  # idempotent
    connection = Connection.objects.get(provider="mautic")
    emails = records.objects(records.instance(), "email")
    assert connection.config["reminder_emails"] == {str(level): e.pk for level, e in zip((1, 2, 3), emails)}
    from apps.hub.models import Invoice

    invoice = Invoice.objects.get(number="FAC-DEMO-RELANCE")
    assert invoice.is_overdue and dunning.refusal(invoice, connection) is None
    assert records.objects(records.instance(), "hook").count() == 1
    assert "Webhook Mautic créé." in out.getvalue()
