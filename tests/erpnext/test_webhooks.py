"""ERPNext webhooks: the shared security suite, the dedupe key, and a delivery that only triggers a re-read."""

import hashlib
import json

import pytest
from django.test import Client

from apps.core.models import Connection, WebhookEvent
from apps.core.webhooks.processing import process_event
from apps.erpnext.models import CustomerMirror, SalesInvoiceMirror
from apps.erpnext.provider import ERPNextProvider
from apps.erpnext.sandbox import state
from apps.erpnext.webhooks import SIGNATURE_HEADER
from tests.core.webhook_security import WebhookSecuritySuite

from .conftest import WEBHOOK_SECRET, run_sync

pytestmark = pytest.mark.django_db


class TestERPNextWebhookSecurity(WebhookSecuritySuite):
    provider_key = "erpnext"
    signature_headers = (SIGNATURE_HEADER,)
    sequence = 0

    def make_connection(self, webhook_secrets):
        return Connection.objects.create(provider="erpnext", name="ERPNext", slug="erp-sec",
                                         base_url="https://erp.example.test", webhook_secrets=webhook_secrets)

    def signed_delivery(self, secret, *, timestamp=None, body=None):
        if body is not None:
            return body, {SIGNATURE_HEADER: state.sign(secret, body)}
        TestERPNextWebhookSecurity.sequence += 1
        data = {"doctype": "Customer", "name": f"CUST-{self.sequence}", "modified": "2026-01-01 10:00:00.000001",
                "event": "on_change"}
        body = json.dumps(data).encode()
        return body, {SIGNATURE_HEADER: state.sign(secret, body)}


@pytest.fixture(autouse=True)
def _redis(redis_connection):
    """The inbox enqueues processing on Redis; these tests then process in-line."""


def test_event_type_is_the_doctype_and_the_key_its_version():
    description = ERPNextProvider().describe_event(
        b'{"doctype": "Sales Invoice", "name": "ACC-SINV-2026-00001", "modified": "2026-01-01 10:00:00.5", '
        b'"event": "on_change"}', {}, None)
    assert description.event_type == "Sales Invoice"
    assert description.event_key == "Sales Invoice:ACC-SINV-2026-00001:2026-01-01 10:00:00.5:on_change"
    for body in (b"not json", b"[1]", b'{"doctype": "Customer"}', b'{"name": "x"}',
                 b'{"doctype": "Customer", "name": ""}', b'{"doctype": "", "name": "CUST-1"}'):
        with pytest.raises(ValueError):
            ERPNextProvider().describe_event(body, {}, None)


def test_a_delivery_without_the_document_version_is_keyed_on_its_exact_body():
    # An admin's template that forgot « modified »: the same delivery twice is one event, a different one is not.
    body = b'{"doctype": "Customer", "name": "CUST-1", "event": "on_change"}'
    description = ERPNextProvider().describe_event(body, {}, None)
    assert description.event_key == f"Customer:CUST-1:sha256:{hashlib.sha256(body).hexdigest()}"


def test_a_document_with_a_very_long_name_gets_a_key_that_fits_the_inbox_column():
    name = "N" * 300
    description = ERPNextProvider().describe_event(
        json.dumps({"doctype": "Customer", "name": name, "modified": "2026-01-01 10:00:00"}).encode(), {}, None)
    assert description.event_key == f"Customer:{name}"[:255]
    assert len(description.event_key) == WebhookEvent._meta.get_field("provider_event_id").max_length


def deliver(connection, body: bytes) -> WebhookEvent:
    response = Client().post(connection.webhook_path(), data=body, content_type="application/json",
                             headers={SIGNATURE_HEADER: state.sign(WEBHOOK_SECRET, body)})
    assert response.status_code == 200, response.content
    event = WebhookEvent.objects.get(pk=response.json()["id"])
    if event.status in (WebhookEvent.Status.RECEIVED, WebhookEvent.Status.QUEUED):
        process_event(event.pk)
        event.refresh_from_db()
    return event


def test_a_sandbox_delivery_refreshes_that_document_from_the_api(sandbox, django_capture_on_commit_callbacks):
    state.save_document(sandbox.site, "Sales Invoice", "SINV-1", {"docstatus": 1, "status": "Unpaid",
                                                                    "outstanding_amount": 80.0, "customer": "C"})
    run_sync(sandbox.connection, "sales_invoices")
    sandbox.site.webhook_url = sandbox.connection.webhook_url()
    sandbox.site.webhook_secret = WEBHOOK_SECRET
    sandbox.site.save()
    with django_capture_on_commit_callbacks(execute=True):
        state.save_document(sandbox.site, "Sales Invoice", "SINV-1", {"status": "Paid", "outstanding_amount": 0.0})
    event = WebhookEvent.objects.get(connection=sandbox.connection)
    if event.status != WebhookEvent.Status.PROCESSED:
        process_event(event.pk)
        event.refresh_from_db()
    assert event.status == WebhookEvent.Status.PROCESSED and event.event_type == "Sales Invoice"
    mirror = SalesInvoiceMirror.objects.get(external_id="SINV-1")
    assert (mirror.payload["status"], mirror.payload["outstanding_amount"]) == ("Paid", 0.0)
    refresh = [r for r in sandbox.requests() if "filters" in r.url and "SINV-1" in r.url]
    assert refresh and refresh[-1].method == "GET"


def test_the_body_is_never_taken_as_data(sandbox):
    state.save_document(sandbox.site, "Customer", "CUST-1", {"customer_name": "Vrai nom"})
    body = json.dumps({"doctype": "Customer", "name": "CUST-1", "modified": "x", "event": "on_change",
                       "customer_name": "Nom inventé"}).encode()
    assert deliver(sandbox.connection, body).status == WebhookEvent.Status.PROCESSED
    assert CustomerMirror.objects.get(external_id="CUST-1").payload["customer_name"] == "Vrai nom"


def test_a_trashed_document_is_marked_deleted_and_a_replay_is_a_duplicate(sandbox):
    state.save_document(sandbox.site, "Customer", "CUST-9", {"customer_name": "Bientôt parti"})
    run_sync(sandbox.connection, "customers")
    state.delete(sandbox.site, "Customer", "CUST-9")
    body = json.dumps({"doctype": "Customer", "name": "CUST-9", "modified": "2026-01-01 00:00:00",
                       "event": "on_trash"}).encode()
    assert deliver(sandbox.connection, body).status == WebhookEvent.Status.PROCESSED
    assert CustomerMirror.objects.get(external_id="CUST-9").is_deleted
    assert deliver(sandbox.connection, body).status == WebhookEvent.Status.DUPLICATE


def test_an_unsynced_doctype_is_stored_and_ignored(sandbox):
    body = json.dumps({"doctype": "Project", "name": "PROJ-1", "modified": "x"}).encode()
    assert deliver(sandbox.connection, body).status == WebhookEvent.Status.IGNORED


def test_an_erpnext_connection_without_webhook_secret_is_no_configuration_error_but_still_refuses(connection):
    from django.core.checks import run_checks

    from apps.core.webhooks.checks import ID_NO_WEBHOOK_SECRET

    bare = Connection.objects.create(provider="erpnext", name="Sans webhooks", slug="erp-bare",
                                     base_url="https://erp.example.test")
    Connection.objects.create(provider="invoiceninja", name="IN", slug="in-bare", base_url="https://in.example.test")
    errors = [e for e in run_checks(databases=["default"]) if e.id == ID_NO_WEBHOOK_SECRET]
    assert len(errors) == 1 and "in-bare" in errors[0].msg and "erp-bare" not in errors[0].msg
    body = b'{"doctype": "Customer", "name": "CUST-1"}'
    response = Client().post(bare.webhook_path(), data=body, content_type="application/json",
                             headers={SIGNATURE_HEADER: state.sign("anything-0123456789", body)})
    assert response.status_code == 503  # fail closed all the same


def test_the_webhook_log_names_which_erpnext_document_changed_in_french(connection):
    """What an admin reads in the « événement » column of the webhook log: the document type, in words."""
    import html
    import re

    from django.contrib.auth.models import User

    said = {
        "Customer": "Client modifié",
        "Supplier": "Fournisseur modifié",
        "Item": "Article modifié",
        "Bin": "Stock d'un article modifié",
        "Sales Invoice": "Facture de vente modifiée",
        "Purchase Invoice": "Facture d'achat modifiée",
        "Payment Entry": "Paiement modifié",
    }
    for doctype in said:
        body = json.dumps({"doctype": doctype, "name": "DOC-1", "modified": "2026-01-01 10:00:00",
                           "event": "on_change"}).encode()
        response = Client().post(connection.webhook_path(), data=body, content_type="application/json",
                                 headers={SIGNATURE_HEADER: state.sign(WEBHOOK_SECRET, body)})
        assert response.status_code == 200, response.content
    admin = Client()
    admin.force_login(User.objects.create_superuser("root", password="x"))

    page = admin.get("/admin/core/webhookevent/", {"provider": "erpnext"}).content.decode()

    shown = [html.unescape(cell) for cell in re.findall(r'<td class="field-event_column">(.*?)</td>', page)]
    assert shown == list(reversed(said.values()))  # newest first
