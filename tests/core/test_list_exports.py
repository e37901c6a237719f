"""CSV export of the webhook log and of the action runs: the filtered list, French headers, nothing secret."""

import csv
import io

import pytest
from django.contrib.contenttypes.models import ContentType
from django.urls import reverse

from apps.core.models import ActionRun, Connection, WebhookEvent
from apps.hub.models import Company
from tests.core.action_doubles import make_user

pytestmark = pytest.mark.django_db


def read_csv(response):
    assert response.status_code == 200, response.content[:300]
    return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig")), delimiter=";"))


@pytest.fixture
def events():
    connection = Connection.objects.create(provider="invoiceninja", name="Facturation", slug="facturation")
    failed = WebhookEvent.objects.create(
        connection=connection, provider="invoiceninja", event_type="invoice.created", provider_event_id="evt-9",
        status=WebhookEvent.Status.FAILED, last_error="Client inconnu", body=b'{"secret": "body-secret"}',
        headers={"X-Api-Token": "header-secret"}, traceback="Traceback: trace-secret")
    WebhookEvent.objects.create(connection=connection, provider="invoiceninja", event_type="quote.created",
                                provider_event_id="evt-10", status=WebhookEvent.Status.PROCESSED, body=b"{}")
    return failed


def test_the_webhook_export_is_the_filtered_log_without_bodies_headers_or_traces(admin_client, events):
    listed = admin_client.get(reverse("admin:core_webhookevent_changelist"), {"status__exact": "failed"})
    assert "Exporter en CSV" in listed.content.decode()

    response = admin_client.get(reverse("admin:core_webhookevent_export"), {"status__exact": "failed"})
    header, *lines = read_csv(response)
    assert header[:4] == ["Reçu le", "Système", "Connexion", "Type d'événement"]
    assert [dict(zip(header, line))["Identifiant d'événement"] for line in lines] == ["evt-9"]
    failed = dict(zip(header, lines[0]))
    assert failed["Statut"] == "Échec" and failed["Dernière erreur"] == "Client inconnu"
    assert failed["Connexion"] == "Facturation"
    text = response.content.decode("utf-8-sig")
    assert "secret" not in text


def test_the_webhook_export_needs_the_log_permission(client, events):
    client.force_login(make_user("fournisseurs", "pay_suppliers"))
    assert client.get(reverse("admin:core_webhookevent_export")).status_code == 403


def test_the_action_run_export_lists_who_ran_what_on_which_record(admin_client):
    company = Company.objects.create(name="Atelier Dupont")
    user = make_user("agathe", "view_console")
    ActionRun.objects.create(action="revolut.pay_bill", label="Payer via Revolut", user=user,
                             content_type=ContentType.objects.get_for_model(Company), object_id=str(company.pk),
                             idempotency_key="k-1", status=ActionRun.Status.FAILED, message="Solde insuffisant",
                             error="trace with api-secret")
    ActionRun.objects.create(action="revolut.pay_bill", label="Payer via Revolut", user=user,
                             content_type=ContentType.objects.get_for_model(Company), object_id=str(company.pk),
                             idempotency_key="k-2", status=ActionRun.Status.SUCCEEDED, message="Virement créé")

    response = admin_client.get(reverse("admin:core_actionrun_export"), {"status__exact": "failed"})
    header, *lines = read_csv(response)
    assert [dict(zip(header, line))["Message"] for line in lines] == ["Solde insuffisant"]
    run = dict(zip(header, lines[0]))
    assert run["Libellé"] == "Payer via Revolut" and run["Utilisateur"] == "agathe" and run["Statut"] == "Échec"
    assert run["Dossier"] == f"société n° {company.pk}"
    assert "api-secret" not in response.content.decode("utf-8-sig")


def test_the_connection_list_has_no_export(admin_client):
    Connection.objects.create(provider="invoiceninja", name="Facturation", slug="facturation")
    assert "Exporter en CSV" not in admin_client.get(reverse("admin:core_connection_changelist")).content.decode()
    assert admin_client.get("/admin/core/connection/export/").status_code in (302, 404)
