"""The supplier payment journey over real HTTP, against the emulator served by pytest-django's live server.

Connect through the sandbox consent → sync → an accountant pays a bill above the threshold → a treasurer
approves → the sandbox completes the transfer (its human page) → its signed webhook marks the bill paid
and the balance moves. Jobs run in this process through the console's own worker class, as a worker would run them.
"""

from decimal import Decimal
from urllib.parse import unquote, urlsplit

import pytest
import requests
from django.test import Client

from apps.core import actions
from apps.core.models import ActionRun, Connection, WebhookEvent
from apps.hub.models import Payment, SupplierBill
from apps.revolut import oauth, sandbox_state
from apps.revolut.actions import PayBillViaRevolut
from apps.revolut.models import RevolutAccount, RevolutPayment
from apps.revolut.sandbox_models import SandboxAccount
from tests import workers
from tests.revolut.conftest import private_key_pem, user_with


def run_jobs():
    workers.run_jobs("webhooks", "default", "sync")


@pytest.fixture
def console(live_server, settings):
    settings.SANDBOX = True
    settings.PUBLIC_BASE_URL = live_server.url
    settings.REVOLUT_SANDBOX_BACKGROUND_DELIVERY = False
    settings.REVOLUT_SANDBOX_COMPLETION_SECONDS = None
    settings.PAYMENT_APPROVAL_THRESHOLD = Decimal("1000.00")
    return live_server.url


def test_pay_a_bill_with_a_second_approver_until_the_webhook_marks_it_paid(console, supplier):
    connection = Connection.objects.create(provider="revolut", name="Revolut Business (sandbox)",
                                           slug="revolut-sandbox", base_url=f"{console}/sandbox/revolut",
                                           token_status=Connection.TokenStatus.MISSING)
    oauth.install_key(connection, private_key_pem())
    app = sandbox_state.register_app(connection.config["certificate_pem"], oauth.redirect_uri())
    connection.config = {**connection.config, "client_id": app.client_id}
    connection.save()
    sandbox_state.ensure_account("Compte principal EUR", "EUR", Decimal("25000.00"))

    # An admin connects Revolut: consent page, "Autoriser", back to the callback.
    admin = Client()
    admin.force_login(user_with("admin", "manage_connections", "view_console"))
    consent = admin.get(f"/revolut/connect/{connection.pk}/consent/")
    assert consent.status_code == 302 and consent["Location"].startswith(f"{console}/sandbox/revolut/app-confirm?")
    page = requests.get(consent["Location"], timeout=10)
    assert "Autoriser" in page.text
    query = dict(part.split("=", 1) for part in urlsplit(consent["Location"]).query.split("&"))
    authorised = requests.post(f"{console}/sandbox/revolut/app-confirm",
                               data={**{k: unquote(v) for k, v in query.items()}, "authorise": "1"},
                               allow_redirects=False, timeout=10)
    callback = urlsplit(authorised.headers["Location"])
    back = admin.get(f"{callback.path}?{callback.query}")
    assert back.status_code == 302, back.content.decode()
    connection.refresh_from_db()
    assert connection.token_status == Connection.TokenStatus.OK
    assert connection.webhook_secrets and connection.config["webhook"]["url"] == connection.webhook_url()
    run_jobs()  # the first syncs and the balance read
    eur = RevolutAccount.objects.get(connection=connection, currency="EUR")
    assert eur.balance == Decimal("25000.00")

    # An accountant asks to pay a bill above the threshold: held for a second approver.
    bill = SupplierBill.objects.create(supplier=supplier, reference="IMP-2026-0415", amount=Decimal("2400.00"))
    accountant = user_with("comptable", "pay_suppliers")
    run, _ = actions.start(actions.get(PayBillViaRevolut.key), bill, accountant, "click-1")
    assert run.status == ActionRun.Status.PENDING_APPROVAL
    assert SupplierBill.objects.get(pk=bill.pk).status == SupplierBill.Status.AWAITING_APPROVAL
    with pytest.raises(actions.ActionUnavailable):
        actions.approve(run, accountant)
    actions.approve(run, user_with("tresorerie", "approve_payments", "view_balances"))
    run_jobs()
    run.refresh_from_db()
    assert run.status == ActionRun.Status.SUCCEEDED, run.message
    payment = RevolutPayment.objects.get(bill=bill)
    assert payment.state == "pending" and payment.transaction_id
    assert SupplierBill.objects.get(pk=bill.pk).status == SupplierBill.Status.PAYMENT_PENDING

    # Someone completes the transfer on the sandbox page; its signed webhook comes back to the console.
    pending_page = requests.get(f"{console}/sandbox/revolut/", timeout=10).text
    assert "IMP-2026-0415" in pending_page and "Compléter" in pending_page
    requests.post(f"{console}/sandbox/revolut/ui/transactions/{payment.transaction_id}/complete", timeout=10)
    assert WebhookEvent.objects.filter(connection=connection, event_type="TransactionStateChanged").exists()
    run_jobs()

    bill.refresh_from_db()
    assert bill.status == SupplierBill.Status.PAID and bill.paid_at is not None
    assert Payment.objects.get(supplier_bill=bill).amount == Decimal("2400.00")
    assert SandboxAccount.objects.get(currency="EUR").balance == Decimal("22600.00")
    eur.refresh_from_db()
    assert eur.balance == Decimal("22600.00")
    assert list(eur.snapshots.order_by("recorded_at").values_list("balance", flat=True)) == [
        Decimal("25000.00"), Decimal("22600.00")]
    assert not WebhookEvent.objects.filter(status__in=["failed", "rejected"]).exists()
