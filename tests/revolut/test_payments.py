"""« Payer via Revolut »: confirmation details, one payment per bill whatever happens, second approver."""

import json
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.core.exceptions import ValidationError

from apps.core import actions
from apps.core.actions import ActionFailed, ActionUnavailable
from apps.core.models import ActionRun, TimelineEntry
from apps.hub.models import Payment, SupplierBill
from apps.revolut.actions import PayBillViaRevolut
from apps.revolut.bank_details import validate_bic, validate_iban
from apps.revolut.models import RevolutCounterparty, RevolutPayment
from tests.revolut.conftest import API, COUNTERPARTY_ACCOUNT_ID, COUNTERPARTY_ID, EUR_ACCOUNT_ID, user_with

PAY_URL = f"{API}/pay"
TX_ID = "630f9a62-e488-a9ce-a2d3-a30cccce03f0"


def transaction(request_id, state="pending", amount=-480.0):
    return {"id": TX_ID, "type": "transfer", "request_id": request_id, "state": state,
            "created_at": "2026-03-02T10:00:00.000000Z", "updated_at": "2026-03-02T10:00:00.000000Z",
            "reference": "IMP-2026-0412",
            "legs": [{"leg_id": "1f0f3850-9627-42de-8ad4-a2c497c37d0b", "amount": amount, "currency": "EUR",
                      "account_id": EUR_ACCOUNT_ID, "counterparty": {"id": COUNTERPARTY_ID}}]}


def lookup_echoing_request_id(found=True):
    def callback(request):
        query = parse_qs(urlsplit(request.url).query)
        assert "from" in query  # request_id requires `from` (NOTES §3.5)
        items = [transaction(query["request_id"][0])] if found and "request_id" in query else []
        return 200, {}, json.dumps(items)

    return callback


def pay_calls(api):
    return [call for call in api.calls if call.request.url == PAY_URL]


def click(bill, user, key):
    run, created = actions.start(actions.get(PayBillViaRevolut.key), bill, user, key)
    if run.status == ActionRun.Status.RUNNING:
        actions.execute(run.pk)
    run.refresh_from_db()
    return run, created


@pytest.fixture
def accountant(db):
    return user_with("comptable", "pay_suppliers")


def test_confirmation_shows_amount_currency_account_counterparty_and_reference(bill, mirrors, revolut):
    details = dict(PayBillViaRevolut().confirmation_details(bill))
    assert details["Montant"] == "480,00\xa0€"
    assert details["Devise"] == "EUR"
    assert details["Compte débité"].startswith("Principal (solde 10")
    assert details["Bénéficiaire"] == "Imprimerie du Centre — FR76 •••• 0189"
    assert details["Référence"] == "IMP-2026-0412"
    assert PayBillViaRevolut.confirm  # the kernel shows a confirmation screen first


def test_pay_sends_one_payment_whose_request_id_was_stored_first(bill, mirrors, accountant, api):
    stored_before_call = []

    def pay(request):
        body = json.loads(request.body)
        stored_before_call.append(RevolutPayment.objects.filter(request_id=body["request_id"]).exists())
        assert body["account_id"] == EUR_ACCOUNT_ID
        assert body["receiver"] == {"counterparty_id": COUNTERPARTY_ID, "account_id": COUNTERPARTY_ACCOUNT_ID}
        assert (body["amount"], body["currency"], body["reference"]) == (480.0, "EUR", "IMP-2026-0412")
        return 200, {}, json.dumps({"id": TX_ID, "state": "pending", "created_at": "2026-03-02T10:00:00Z"})

    api.add_callback("POST", PAY_URL, callback=pay)
    run, _ = click(bill, accountant, "key-1")
    assert run.status == ActionRun.Status.SUCCEEDED
    assert stored_before_call == [True]
    payment = RevolutPayment.objects.get(bill=bill)
    assert (payment.state, payment.transaction_id) == ("pending", TX_ID)
    assert run.external_ids["request_id"] == payment.request_id and len(payment.request_id) <= 40
    bill.refresh_from_db()
    assert bill.status == SupplierBill.Status.PAYMENT_PENDING


def test_double_clicks_and_job_retries_send_one_payment(bill, mirrors, accountant, api):
    api.post(PAY_URL, json={"id": TX_ID, "state": "pending", "created_at": "2026-03-02T10:00:00Z"})
    first, created = click(bill, accountant, "key-1")
    again, created_again = click(bill, accountant, "key-1")  # the same button posted twice
    assert created and not created_again and again.pk == first.pk
    with pytest.raises(ActionUnavailable):  # another tab after the payment left: not payable any more
        click(bill, accountant, "key-2")
    PayBillViaRevolut().run(bill, first)  # the job retried by RQ after a worker crash
    assert len(pay_calls(api)) == 1
    assert RevolutPayment.objects.filter(bill=bill).count() == 1


def test_timeout_after_sending_looks_the_payment_up_and_never_sends_again(bill, mirrors, accountant, api):
    api.post(PAY_URL, body=requests.ReadTimeout("read timed out"))
    api.add_callback("GET", f"{API}/transactions", callback=lookup_echoing_request_id())
    run, _ = click(bill, accountant, "key-1")
    assert run.status == ActionRun.Status.SUCCEEDED, run.message
    assert len(pay_calls(api)) == 1
    payment = RevolutPayment.objects.get(bill=bill)
    assert (payment.transaction_id, payment.state) == (TX_ID, "pending")


def test_unconfirmed_payment_is_looked_up_again_and_resent_only_with_the_same_request_id(
    bill, mirrors, accountant, api
):
    api.post(PAY_URL, body=requests.ReadTimeout("read timed out"))
    api.add_callback("GET", f"{API}/transactions", callback=lookup_echoing_request_id(found=False))
    run, _ = click(bill, accountant, "key-1")
    assert run.status == ActionRun.Status.FAILED
    assert "sera vérifié automatiquement" in run.message
    payment = RevolutPayment.objects.get(bill=bill)
    assert payment.state == RevolutPayment.State.UNKNOWN
    bill.refresh_from_db()
    assert bill.status == SupplierBill.Status.PAYMENT_PENDING
    assert TimelineEntry.objects.filter(level="warning", message__contains="jamais renvoyé en double").exists()

    # Revolut did get the first one but lists it late: the retry looks up first (nothing yet), re-sends the
    # SAME request_id, is answered "duplicate request", and then finds it.
    lookups = []

    def late_listing(request):
        lookups.append(request.url)
        return 200, {}, json.dumps([transaction(payment.request_id)] if len(lookups) > 1 else [])

    api.replace("POST", PAY_URL, status=400, json={"code": 3020, "message": f"Duplicate request: {payment.request_id}"})
    api.remove("GET", f"{API}/transactions")
    api.add_callback("GET", f"{API}/transactions", callback=late_listing)
    retry, _ = click(bill, accountant, "key-2")
    assert len(lookups) == 2
    assert retry.status == ActionRun.Status.SUCCEEDED, retry.message
    bodies = [json.loads(call.request.body) for call in pay_calls(api)]
    assert [body["request_id"] for body in bodies] == [payment.request_id, payment.request_id]
    payment.refresh_from_db()
    assert payment.transaction_id == TX_ID


def test_duplicate_request_answer_is_treated_as_accepted(bill, mirrors, accountant, api):
    api.post(PAY_URL, status=400, json={"code": 3020, "message": "Duplicate request"})
    api.add_callback("GET", f"{API}/transactions", callback=lookup_echoing_request_id())
    run, _ = click(bill, accountant, "key-1")
    assert run.status == ActionRun.Status.SUCCEEDED
    assert RevolutPayment.objects.get(bill=bill).transaction_id == TX_ID


def test_a_refused_payment_fails_the_bill_and_a_new_attempt_gets_a_new_request_id(bill, mirrors, accountant, api):
    api.post(PAY_URL, status=400, json={"code": 3000, "message": "Invalid receiver"})
    run, _ = click(bill, accountant, "key-1")
    assert run.status == ActionRun.Status.FAILED and "Invalid receiver" in run.message
    bill.refresh_from_db()
    assert bill.status == SupplierBill.Status.PAYMENT_FAILED
    api.replace("POST", PAY_URL, json={"id": TX_ID, "state": "completed", "created_at": "2026-03-02T10:00:00Z",
                                       "completed_at": "2026-03-02T10:00:01Z"})
    retry, _ = click(bill, accountant, "key-2")
    assert retry.status == ActionRun.Status.SUCCEEDED
    first, second = RevolutPayment.objects.filter(bill=bill).order_by("pk")
    assert first.request_id != second.request_id and (first.state, second.state) == ("failed", "completed")
    bill.refresh_from_db()
    assert bill.status == SupplierBill.Status.PAID and bill.paid_at is not None
    payment = Payment.objects.get(supplier_bill=bill)
    assert (payment.direction, payment.amount, payment.external_id) == ("out", Decimal("480.00"), TX_ID)


def test_above_the_threshold_a_second_different_user_with_the_permission_must_approve(
    big_bill, mirrors, accountant, api, django_capture_on_commit_callbacks
):
    api.post(PAY_URL, json={"id": TX_ID, "state": "pending", "created_at": "2026-03-02T10:00:00Z"})
    with django_capture_on_commit_callbacks(execute=True):
        run, _ = click(big_bill, accountant, "key-1")
    assert run.status == ActionRun.Status.PENDING_APPROVAL
    big_bill.refresh_from_db()
    assert big_bill.status == SupplierBill.Status.AWAITING_APPROVAL
    assert len(pay_calls(api)) == 0

    accountant_who_may_approve = user_with("comptable2", "pay_suppliers", "approve_payments")
    with pytest.raises(ActionUnavailable):
        actions.approve(run, accountant)  # the requester, even if they had the permission
    with pytest.raises(ActionUnavailable):
        actions.approve(run, user_with("stagiaire", "pay_suppliers"))  # no approval permission
    assert len(pay_calls(api)) == 0

    approved = actions.approve(run, accountant_who_may_approve)
    assert approved.status == ActionRun.Status.RUNNING
    actions.execute(run.pk)
    assert len(pay_calls(api)) == 1
    run.refresh_from_db()
    assert run.status == ActionRun.Status.SUCCEEDED


def test_the_counterparty_is_created_from_the_supplier_iban(bill, revolut, accountant, api):
    from apps.revolut.models import RevolutAccount

    RevolutAccount.objects.create(connection=revolut, external_id=EUR_ACCOUNT_ID, currency="EUR",
                                  balance=Decimal("5000"), state="active")
    api.get(f"{API}/counterparties", json=[])
    api.post(f"{API}/counterparty", status=422, json={"code": 3012, "message": "This counterparty already exists",
                                                      "params": {"counterparty_id": COUNTERPARTY_ID}})
    api.get(f"{API}/counterparty/{COUNTERPARTY_ID}", json={
        "id": COUNTERPARTY_ID, "name": "Imprimerie du Centre", "state": "created",
        "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z",
        "accounts": [{"id": COUNTERPARTY_ACCOUNT_ID, "type": "external", "iban": "FR7630006000011234567890189",
                      "currency": "EUR"}]})
    api.post(PAY_URL, json={"id": TX_ID, "state": "pending", "created_at": "2026-03-02T10:00:00Z"})
    run, _ = click(bill, accountant, "key-1")
    assert run.status == ActionRun.Status.SUCCEEDED, run.message
    sent = json.loads([c for c in api.calls if c.request.url == f"{API}/counterparty"][0].request.body)
    assert sent["company_name"] == "Imprimerie du Centre"
    assert (sent["iban"], sent["bic"], sent["bank_country"], sent["currency"]) == (
        "FR7630006000011234567890189", "AGRIFRPP", "FR", "EUR")
    counterparty = RevolutCounterparty.objects.get(external_id=COUNTERPARTY_ID)
    assert counterparty.company == bill.supplier and counterparty.payment_account_id == COUNTERPARTY_ACCOUNT_ID


def test_an_invalid_iban_is_refused_in_french_before_anything_is_sent(bill, revolut, accountant, api):
    from apps.revolut.models import RevolutAccount

    RevolutAccount.objects.create(connection=revolut, external_id=EUR_ACCOUNT_ID, currency="EUR",
                                  balance=Decimal("5000"), state="active")
    bill.supplier.iban = "FR7630006000011234567890188"  # one digit off
    bill.supplier.save()
    assert PayBillViaRevolut().unavailable_reason(bill, accountant) == \
        "IBAN invalide : la clé de contrôle ne correspond pas."
    with pytest.raises(ActionFailed):
        PayBillViaRevolut().run(bill, ActionRun(user=accountant))
    assert len(api.calls) == 0


@pytest.mark.parametrize("iban, message", [
    ("FR76 3000 6000 0112 3456 7890 189", None),
    ("DE89370400440532013000", None),
    ("GB82WEST12345698765432", None),
    ("FR763000600001123456789018", "27 caractères attendus"),
    ("XX7630006000011234567890189", "pays XX"),
    ("FR76-3000", "format attendu"),
])
def test_iban_checks(iban, message):
    if message is None:
        assert validate_iban(iban) == iban.replace(" ", "")
    else:
        with pytest.raises(ValidationError, match=message):
            validate_iban(iban)


def test_bic_checks():
    assert validate_bic("agri frpp") == "AGRIFRPP"
    assert validate_bic("BNPAFRPPXXX") == "BNPAFRPPXXX"
    for wrong in ("AGRIFRP", "1GRIFRPP", "AGRIFRPPXX"):
        with pytest.raises(ValidationError):
            validate_bic(wrong)


def test_the_pay_body_carries_the_amount_as_written_in_the_decimal_never_through_a_float(revolut, api):
    from apps.revolut.client import RevolutClient

    sent = []
    api.add_callback("POST", PAY_URL, callback=lambda request: (
        sent.append(request.body) or (200, {}, json.dumps({"id": TX_ID, "state": "pending"}))))
    # 16 significant digits: a binary float would send 98765432109876.55.
    RevolutClient(revolut).pay(request_id="req-decimal", account_id=EUR_ACCOUNT_ID, counterparty_id=COUNTERPARTY_ID,
                               amount=Decimal("98765432109876.54"), currency="EUR", reference="Gros virement")
    body = sent[0].decode() if isinstance(sent[0], bytes) else sent[0]
    assert '"amount": 98765432109876.54' in body
    assert json.loads(body, parse_float=Decimal)["amount"] == Decimal("98765432109876.54")
