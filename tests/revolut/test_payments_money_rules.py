"""Money rules of apps/revolut/payments.py that a wrong line would break silently.

Which account is debited, when a payment counts as found, what a late or reverted state may do to a paid
bill, the 13-day re-send window and the 140-character reference. Each test names the harm it prevents.
"""

import json
from datetime import timedelta
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.utils import timezone, translation

from apps.core.actions import ActionFailed
from apps.core.models import ActionRun, TimelineEntry
from apps.hub.models import Payment, SupplierBill
from apps.revolut import payments
from apps.revolut.client import RevolutClient
from apps.revolut.models import RevolutAccount, RevolutPayment
from tests.revolut.conftest import API, COUNTERPARTY_ID, EUR_ACCOUNT_ID, make_connection, user_with

PAY_URL = f"{API}/pay"
TX_ID = "630f9a62-e488-a9ce-a2d3-a30cccce03f0"
OTHER_EUR_ACCOUNT = "0c4e8d3b-5a1f-4f7e-9a39-6f1b8e2d7c10"


def account(connection, external_id, *, balance, state="active", currency="EUR", is_deleted=False):
    return RevolutAccount.objects.create(connection=connection, external_id=external_id, name=external_id[:8],
                                         currency=currency, balance=Decimal(balance), state=state,
                                         is_deleted=is_deleted, seen_at=timezone.now())


def sent_payment(bill, connection, counterparty, *, state="pending", transaction_id=TX_ID, **fields):
    return RevolutPayment.objects.create(
        connection=connection, bill=bill, request_id=fields.pop("request_id", "req-0412"),
        account_external_id=EUR_ACCOUNT_ID, counterparty=counterparty,
        receiver_account_id=counterparty.payment_account_id, amount=bill.amount, currency=bill.currency,
        reference=bill.reference, state=state, transaction_id=transaction_id, **fields)


def listing(*items):
    def callback(request):
        return 200, {}, json.dumps(list(items))
    return callback


def revolut_transaction(request_id, state="pending", tx_id=TX_ID):
    return {"id": tx_id, "type": "transfer", "request_id": request_id, "state": state,
            "created_at": "2026-03-02T10:00:00.000000Z", "updated_at": "2026-03-02T10:00:00.000000Z",
            "reference": "IMP-2026-0412",
            "legs": [{"leg_id": "1f0f3850-9627-42de-8ad4-a2c497c37d0b", "amount": -480.0, "currency": "EUR",
                      "account_id": EUR_ACCOUNT_ID, "counterparty": {"id": COUNTERPARTY_ID}}]}


# Which account pays -------------------------------------------------------------------------------------------
def test_an_inactive_or_deleted_account_is_never_debited_even_with_more_money(revolut):
    account(revolut, "inactive", balance="90000", state="inactive")
    account(revolut, "deleted", balance="80000", is_deleted=True)
    account(revolut, "usd", balance="70000", currency="USD")
    active = account(revolut, "active", balance="10")
    assert payments.debit_account(revolut, "EUR") == active


def test_without_a_configured_account_the_active_account_with_the_most_money_pays(revolut):
    account(revolut, "poor", balance="10.00")
    rich = account(revolut, "rich", balance="10000.00")
    account(revolut, "middle", balance="500.00")
    assert payments.debit_account(revolut, "EUR") == rich


def test_between_accounts_holding_as_much_money_the_same_one_always_pays(revolut):
    """The confirmation names the account before the click chooses it again: both must choose the same one,
    whatever order the database reads the rows in (here, not the order of their ids)."""
    stored_first = account(revolut, "stored-first", balance="500.00")
    RevolutAccount.objects.filter(pk=stored_first.pk).update(id=stored_first.pk + 1000)
    lower_id = RevolutAccount.objects.create(id=stored_first.pk + 500, connection=revolut, external_id="lower-id",
                                             name="lower-id", currency="EUR", balance=Decimal("500.00"),
                                             state="active", seen_at=timezone.now())
    assert payments.debit_account(revolut, "EUR") == lower_id


def test_an_account_of_another_revolut_connection_is_never_debited(revolut):
    other_company = make_connection("https://sandbox-b2b.revolut.com/api/1.0")
    account(other_company, "other-company-rich", balance="900000")
    own = account(revolut, "own", balance="10")
    assert payments.debit_account(revolut, "EUR") == own


def test_the_account_configured_for_the_currency_pays_even_with_less_money(revolut):
    account(revolut, "rich", balance="10000.00")
    configured = account(revolut, "configured", balance="20.00")
    revolut.config = {**revolut.config, "payment_accounts": {"EUR": "configured"}}
    assert payments.debit_account(revolut, "EUR") == configured


def test_a_configured_account_that_became_inactive_is_not_debited(revolut):
    account(revolut, "configured", balance="20000.00", state="inactive")
    fallback = account(revolut, "active", balance="10.00")
    revolut.config = {**revolut.config, "payment_accounts": {"EUR": "configured"}}
    assert payments.debit_account(revolut, "EUR") == fallback


def test_no_active_account_in_the_currency_refuses_in_french_before_anything_is_sent(bill, revolut, api):
    account(revolut, "usd", balance="1000", currency="USD")
    with pytest.raises(ActionFailed) as refusal:
        payments.prepare(bill, revolut, RevolutClient(revolut))
    assert str(refusal.value) == "Aucun compte Revolut actif en EUR."
    assert len(api.calls) == 0 and not RevolutPayment.objects.exists()


def test_the_prepared_payment_records_what_will_be_sent_and_the_bill_shows_it_pending(bill, mirrors, revolut, api):
    payment = payments.prepare(bill, revolut, RevolutClient(revolut))
    assert (payment.account_external_id, payment.amount, payment.currency, payment.reference) == (
        EUR_ACCOUNT_ID, Decimal("480.00"), "EUR", "IMP-2026-0412")
    assert payment.state == RevolutPayment.State.PREPARED and payment.first_sent_at is None
    bill.refresh_from_db()
    assert bill.status == SupplierBill.Status.PAYMENT_PENDING
    assert TimelineEntry.objects.filter(message__contains=payment.request_id).count() == 1
    assert payments.prepare(bill, revolut, RevolutClient(revolut)) == payment  # a second click: the same one


@pytest.mark.parametrize("length", [140, 141])
def test_the_reference_sent_is_the_bills_cut_at_revolut_s_140_characters(bill, mirrors, revolut, length):
    # SupplierBill.reference is shorter than Revolut's limit today; the cut protects a longer one tomorrow.
    bill.reference = ("R" * 139 + "XYZ")[:length]
    payment = payments.prepare(bill, revolut, RevolutClient(revolut))
    assert payment.reference == bill.reference[:140] and len(payment.reference) == 140


# Found or not found -------------------------------------------------------------------------------------------
def test_a_lookup_that_lists_nothing_or_another_request_is_not_found(bill, mirrors, revolut, api):
    account_, counterparty = mirrors
    payment = sent_payment(bill, revolut, counterparty, state="unknown", transaction_id="")
    client = RevolutClient(revolut)
    api.add_callback("GET", f"{API}/transactions", callback=listing())
    assert payments.lookup(payment, client) is False
    api.replace("GET", f"{API}/transactions", body=json.dumps([revolut_transaction("someone-elses-request")]))
    assert payments.lookup(payment, client) is False
    payment.refresh_from_db()
    assert payment.transaction_id == "" and payment.state == "unknown"


def test_a_lookup_that_fails_is_not_found_and_never_raises(bill, mirrors, revolut, api):
    _, counterparty = mirrors
    payment = sent_payment(bill, revolut, counterparty, state="unknown", transaction_id="")
    api.get(f"{API}/transactions", status=500)
    assert payments.lookup(payment, RevolutClient(revolut)) is False


def test_a_lookup_asks_by_request_id_from_a_day_before_the_payment(bill, mirrors, revolut, api):
    _, counterparty = mirrors
    payment = sent_payment(bill, revolut, counterparty, state="unknown", transaction_id="")
    asked = []

    def callback(request):
        asked.append(parse_qs(urlsplit(request.url).query))
        return 200, {}, json.dumps([revolut_transaction(payment.request_id)])

    api.add_callback("GET", f"{API}/transactions", callback=callback)
    assert payments.lookup(payment, RevolutClient(revolut)) is True
    (query,) = asked
    assert query["request_id"] == [payment.request_id]
    sent_from = query["from"][0]
    assert sent_from.startswith((payment.created_at - timedelta(days=1)).date().isoformat())
    payment.refresh_from_db()
    assert (payment.transaction_id, payment.state) == (TX_ID, "pending")


# What a state may do to a bill ------------------------------------------------------------------------------
@pytest.mark.parametrize("late", ["pending", "created"])
def test_a_late_pending_event_never_un_pays_a_paid_bill(bill, mirrors, revolut, late):
    _, counterparty = mirrors
    payment = sent_payment(bill, revolut, counterparty)
    payments.apply_state(payment, "completed", completed_at="2026-03-02T10:00:01Z")
    payments.apply_state(payment, late)
    payment.refresh_from_db()
    bill.refresh_from_db()
    assert payment.state == "completed"
    assert bill.status == SupplierBill.Status.PAID and bill.paid_at is not None
    assert Payment.objects.filter(supplier_bill=bill).count() == 1


def test_a_completed_payment_marks_the_bill_paid_at_revolut_s_completion_time_with_one_hub_payment(
    bill, mirrors, revolut
):
    _, counterparty = mirrors
    payment = sent_payment(bill, revolut, counterparty)
    payments.apply_state(payment, "completed", completed_at="2026-03-02T10:00:01Z")
    payments.apply_state(payment, "completed", completed_at="2026-03-02T10:00:01Z")  # webhook after the lookup
    bill.refresh_from_db()
    assert bill.status == SupplierBill.Status.PAID
    assert bill.paid_at.isoformat() == "2026-03-02T10:00:01+00:00"
    hub = Payment.objects.get(supplier_bill=bill)
    assert (hub.direction, hub.amount, hub.currency, hub.external_id, hub.source) == (
        Payment.Direction.OUTGOING, Decimal("480.00"), "EUR", TX_ID, "revolut")
    assert str(hub.date) == "2026-03-02"
    assert TimelineEntry.objects.filter(message="Paiement Revolut exécuté : facture payée.").count() == 1


def test_a_reverted_payment_removes_its_hub_payment_and_the_bill_is_no_longer_paid(bill, mirrors, revolut):
    _, counterparty = mirrors
    payment = sent_payment(bill, revolut, counterparty)
    payments.apply_state(payment, "completed", completed_at="2026-03-02T10:00:01Z")
    payments.apply_state(payment, "reverted", reason_code="account_closed")
    bill.refresh_from_db()
    payment.refresh_from_db()
    assert payment.state == "reverted" and payment.reason_code == "account_closed"
    assert bill.status == SupplierBill.Status.PAYMENT_FAILED and bill.paid_at is None
    assert not Payment.objects.filter(supplier_bill=bill).exists()
    entry = TimelineEntry.objects.filter(level="warning").latest("pk")
    assert entry.message == ("Paiement Revolut retourné : les fonds sont revenus sur le compte. "
                             "(account_closed)")


def test_a_declined_payment_fails_the_bill_says_why_and_keeps_no_hub_payment(bill, mirrors, revolut):
    _, counterparty = mirrors
    payment = sent_payment(bill, revolut, counterparty)
    payments.apply_state(payment, "declined", reason_code="insufficient_balance")
    bill.refresh_from_db()
    assert bill.status == SupplierBill.Status.PAYMENT_FAILED and bill.paid_at is None
    assert not Payment.objects.exists()
    assert TimelineEntry.objects.filter(level="error").latest("pk").message == (
        "Paiement Revolut refusé par la banque. (insufficient_balance)")


def test_a_pending_payment_moves_a_bill_to_pending_and_repeats_write_nothing(bill, mirrors, revolut):
    _, counterparty = mirrors
    payment = sent_payment(bill, revolut, counterparty, state="prepared", transaction_id="")
    payments.apply_state(payment, "pending", transaction_id=TX_ID)
    payments.apply_state(payment, "pending", transaction_id=TX_ID)
    payments.apply_state(payment, "no-such-state", transaction_id="other")
    payment.refresh_from_db()
    bill.refresh_from_db()
    assert (payment.state, payment.transaction_id) == ("pending", TX_ID)
    assert bill.status == SupplierBill.Status.PAYMENT_PENDING
    assert TimelineEntry.objects.filter(message="Paiement Revolut en cours de traitement.").count() == 1


def test_each_state_of_a_payment_is_read_on_the_bill_s_timeline_in_the_reader_s_language(bill, mirrors, revolut):
    _, counterparty = mirrors
    payment = sent_payment(bill, revolut, counterparty, state="prepared", transaction_id="")
    payments.apply_state(payment, "pending", transaction_id=TX_ID)
    entry = TimelineEntry.objects.filter(message="Paiement Revolut en cours de traitement.").get()
    with translation.override("en"):
        assert entry.text == "Revolut payment being processed."


def test_a_late_state_still_records_the_transaction_id_it_brings(bill, mirrors, revolut):
    _, counterparty = mirrors
    payment = sent_payment(bill, revolut, counterparty, state="completed", transaction_id="")
    payments.apply_state(payment, "pending", transaction_id=TX_ID)
    payment.refresh_from_db()
    assert (payment.state, payment.transaction_id) == ("completed", TX_ID)


def test_a_mirrored_transaction_reaches_the_payment_by_transaction_id_or_request_id(bill, mirrors, revolut):
    from apps.revolut.models import RevolutTransaction

    _, counterparty = mirrors
    payment = sent_payment(bill, revolut, counterparty, state="unknown", transaction_id="")
    record = RevolutTransaction(connection=revolut, external_id=TX_ID, request_id=payment.request_id,
                                state="completed", payload={"completed_at": "2026-03-02T10:00:01Z"})
    payments.apply_transaction(record)
    payment.refresh_from_db()
    bill.refresh_from_db()
    assert (payment.state, payment.transaction_id) == ("completed", TX_ID)
    assert bill.paid_at.isoformat() == "2026-03-02T10:00:01+00:00"
    stranger = RevolutTransaction(connection=revolut, external_id="another-tx", request_id="another-request",
                                  state="reverted", payload={})
    payments.apply_transaction(stranger)  # not ours: nothing happens
    payment.refresh_from_db()
    assert payment.state == "completed"
    reverted = RevolutTransaction(connection=revolut, external_id=TX_ID, request_id="", state="reverted",
                                  payload={"reason_code": "refund"})
    payments.apply_transaction(reverted)
    payment.refresh_from_db()
    assert (payment.state, payment.reason_code) == ("reverted", "refund")


# Sending: the 13-day window and what is never sent twice ---------------------------------------------------
@pytest.mark.parametrize("age, resent", [(timedelta(days=13), True),
                                         (timedelta(days=13, microseconds=1), False)])
def test_an_unconfirmed_payment_is_re_sent_only_within_13_days(bill, mirrors, revolut, api, monkeypatch, age,
                                                                 resent):
    _, counterparty = mirrors
    now = timezone.now()
    monkeypatch.setattr(timezone, "now", lambda: now)  # the boundary to the microsecond
    payment = sent_payment(bill, revolut, counterparty, state="unknown", transaction_id="",
                           first_sent_at=now - age)
    api.add_callback("GET", f"{API}/transactions", callback=listing())
    api.post(PAY_URL, json={"id": TX_ID, "state": "pending", "created_at": "2026-03-02T10:00:00Z"})
    if resent:
        payments.send(payment, RevolutClient(revolut))
        assert [json.loads(c.request.body)["request_id"] for c in api.calls if c.request.url == PAY_URL] == [
            payment.request_id]
    else:
        with pytest.raises(ActionFailed) as refusal:
            payments.send(payment, RevolutClient(revolut))
        assert str(refusal.value) == ("Paiement non confirmé depuis plus de 13 jours : vérifiez dans Revolut avant "
                                      "tout nouvel essai (requête req-0412).")
        assert not [c for c in api.calls if c.request.url == PAY_URL]


def test_a_payment_with_a_transaction_or_a_final_state_is_never_sent_again(bill, mirrors, revolut, api):
    _, counterparty = mirrors
    with_transaction = sent_payment(bill, revolut, counterparty, state="pending")
    assert payments.send(with_transaction, RevolutClient(revolut)).transaction_id == TX_ID
    with_transaction.delete()
    failed = sent_payment(bill, revolut, counterparty, state="failed", transaction_id="", request_id="req-2")
    payments.send(failed, RevolutClient(revolut))
    assert len(api.calls) == 0


def test_a_refused_connection_before_sending_leaves_the_payment_unsent_and_retryable(bill, mirrors, revolut, api):
    _, counterparty = mirrors
    payment = sent_payment(bill, revolut, counterparty, state="prepared", transaction_id="")
    api.post(PAY_URL, body=requests.ConnectTimeout("connect timed out"))  # provably never reached Revolut
    with pytest.raises(ActionFailed) as refusal:
        payments.send(payment, RevolutClient(revolut))
    assert str(refusal.value) == "Revolut injoignable, rien n'a été envoyé : Service injoignable (ConnectTimeout)"
    payment.refresh_from_db()
    assert payment.first_sent_at is None and payment.state == "prepared"


def test_a_rate_limited_first_send_is_not_counted_as_sent(bill, mirrors, revolut, api):
    _, counterparty = mirrors
    payment = sent_payment(bill, revolut, counterparty, state="prepared", transaction_id="")
    api.post(PAY_URL, status=429, headers={"Retry-After": "30"})
    with pytest.raises(ActionFailed) as refusal:
        payments.send(payment, RevolutClient(revolut))
    assert str(refusal.value) == "Paiement non envoyé : HTTP 429"
    payment.refresh_from_db()
    assert payment.first_sent_at is None


def test_a_payment_refused_by_revolut_fails_with_its_code(bill, mirrors, revolut, api):
    _, counterparty = mirrors
    payment = sent_payment(bill, revolut, counterparty, state="prepared", transaction_id="")
    api.post(PAY_URL, status=400, json={"code": 3000, "message": "Invalid receiver"})
    with pytest.raises(ActionFailed) as refusal:
        payments.send(payment, RevolutClient(revolut))
    assert str(refusal.value) == "Revolut a refusé le paiement : Invalid receiver"
    payment.refresh_from_db()
    assert (payment.state, payment.reason_code) == ("failed", "3000")
    bill.refresh_from_db()
    assert bill.status == SupplierBill.Status.PAYMENT_FAILED
    entry = TimelineEntry.objects.get(level="error")
    assert entry.message == "Revolut a refusé le paiement : Invalid receiver"


def test_the_answer_s_completion_time_becomes_the_bill_s_payment_time(bill, mirrors, revolut, api):
    _, counterparty = mirrors
    payment = sent_payment(bill, revolut, counterparty, state="prepared", transaction_id="")
    api.post(PAY_URL, json={"id": TX_ID, "state": "completed", "created_at": "2026-03-02T10:00:00Z",
                            "completed_at": "2026-03-02T10:00:05Z"})
    sent = payments.send(payment, RevolutClient(revolut))
    assert (sent.state, sent.transaction_id) == ("completed", TX_ID) and sent.first_sent_at is not None
    assert sent.reason_code == ""
    bill.refresh_from_db()
    assert bill.paid_at.isoformat() == "2026-03-02T10:00:05+00:00"


# Which payments the reconciliation job still has to ask about ----------------------------------------------
def test_only_payments_whose_fate_is_unknown_are_looked_up_by_the_reconciliation(bill, mirrors, revolut):
    _, counterparty = mirrors
    states = ["prepared", "unknown", "created", "pending", "completed", "declined", "failed", "reverted"]
    for index, state in enumerate(states):
        one_bill = SupplierBill.objects.create(supplier=bill.supplier, reference=f"B-{index}", amount=Decimal("1.00"))
        sent_payment(one_bill, revolut, counterparty, state=state, request_id=f"req-{state}",
                     transaction_id=f"tx-{index}")
    assert sorted(payments.unconfirmed_payments().values_list("state", flat=True)) == ["created", "pending", "unknown"]


# The bill's status while a click waits for a second approver ----------------------------------------------
def test_a_failed_run_with_no_payment_sent_puts_the_bill_back_to_pay(bill, mirrors, revolut):
    user = user_with("comptable", "pay_suppliers")
    run = ActionRun.objects.create(action="revolut.pay_bill", user=user, object_id=str(bill.pk),
                                   content_type_id=_bill_type(), status=ActionRun.Status.PENDING_APPROVAL,
                                   idempotency_key="k1")
    payments.on_action_run_changed(None, run)
    bill.refresh_from_db()
    assert bill.status == SupplierBill.Status.AWAITING_APPROVAL
    entry = TimelineEntry.objects.get()
    assert (entry.message, entry.provider) == (
        "Paiement demandé par comptable : en attente d'un second approbateur.", "revolut")
    run.status = ActionRun.Status.FAILED
    payments.on_action_run_changed(None, run)
    bill.refresh_from_db()
    assert bill.status == SupplierBill.Status.TO_PAY


def test_a_failed_run_after_a_failed_payment_leaves_the_bill_in_failure(bill, mirrors, revolut):
    _, counterparty = mirrors
    sent_payment(bill, revolut, counterparty, state="failed", transaction_id="")
    SupplierBill.objects.filter(pk=bill.pk).update(status=SupplierBill.Status.PAYMENT_PENDING)
    run = ActionRun(action="revolut.pay_bill", object_id=str(bill.pk), status=ActionRun.Status.FAILED)
    payments.on_action_run_changed(None, run)
    bill.refresh_from_db()
    assert bill.status == SupplierBill.Status.PAYMENT_FAILED


def test_other_actions_and_paid_bills_are_left_alone(bill, mirrors, revolut):
    SupplierBill.objects.filter(pk=bill.pk).update(status=SupplierBill.Status.PAID)
    run = ActionRun(action="revolut.pay_bill", object_id=str(bill.pk), status=ActionRun.Status.FAILED)
    payments.on_action_run_changed(None, run)
    run.status = ActionRun.Status.PENDING_APPROVAL
    payments.on_action_run_changed(None, run)
    bill.refresh_from_db()
    assert bill.status == SupplierBill.Status.PAID
    SupplierBill.objects.filter(pk=bill.pk).update(status=SupplierBill.Status.TO_PAY)
    other = ActionRun(action="invoiceninja.send_quote", object_id=str(bill.pk),
                      status=ActionRun.Status.PENDING_APPROVAL)
    payments.on_action_run_changed(None, other)
    bill.refresh_from_db()
    assert bill.status == SupplierBill.Status.TO_PAY


def _bill_type():
    from django.contrib.contenttypes.models import ContentType

    return ContentType.objects.get_for_model(SupplierBill).pk


# Resuming, and who asked ---------------------------------------------------------------------------------------
def test_a_retry_resumes_the_prepared_payment_even_if_its_account_is_gone_since(bill, mirrors, revolut, api):
    account_, _ = mirrors
    payment = payments.prepare(bill, revolut, RevolutClient(revolut))
    RevolutAccount.objects.filter(pk=account_.pk).update(state="inactive")
    assert payments.prepare(bill, revolut, RevolutClient(revolut)) == payment
    assert RevolutPayment.objects.count() == 1


def test_the_payment_remembers_which_click_and_which_user_asked_for_it(bill, mirrors, revolut):
    user = user_with("comptable", "pay_suppliers")
    run = ActionRun.objects.create(action="revolut.pay_bill", user=user, object_id=str(bill.pk),
                                   content_type_id=_bill_type(), idempotency_key="k-who")
    payment = payments.prepare(bill, revolut, RevolutClient(revolut), run=run)
    payment.refresh_from_db()
    assert (payment.action_run, payment.requested_by) == (run, user)


def test_preparing_is_written_on_the_bill_s_timeline_with_the_request_id(bill, mirrors, revolut):
    payment = payments.prepare(bill, revolut, RevolutClient(revolut))
    entry = TimelineEntry.objects.get()
    assert entry.message == f"Paiement Revolut préparé (requête {payment.request_id})."
    assert (entry.provider, entry.external_ids, entry.object_id) == (
        "revolut", {"request_id": payment.request_id}, str(bill.pk))


def test_when_another_worker_prepared_the_bill_first_its_payment_is_used(bill, mirrors, revolut, monkeypatch):
    theirs = payments.prepare(bill, revolut, RevolutClient(revolut))
    real_live_payment = payments.live_payment
    calls = []

    def not_yet_visible(the_bill):  # our first look happened before their commit
        calls.append(the_bill)
        return None if len(calls) == 1 else real_live_payment(the_bill)

    monkeypatch.setattr(payments, "live_payment", not_yet_visible)
    assert payments.prepare(bill, revolut, RevolutClient(revolut)) == theirs
    assert RevolutPayment.objects.count() == 1 and calls == [bill, bill]


# A lost answer -------------------------------------------------------------------------------------------------
def test_a_lost_answer_marks_only_this_payment_unknown_warns_on_the_timeline_and_says_it_will_check(
    bill, mirrors, revolut, api
):
    _, counterparty = mirrors
    other_bill = SupplierBill.objects.create(supplier=bill.supplier, reference="B-2", amount=Decimal("5.00"))
    other = sent_payment(other_bill, revolut, counterparty, state="prepared", transaction_id="", request_id="req-b2")
    payment = sent_payment(bill, revolut, counterparty, state="prepared", transaction_id="")
    api.post(PAY_URL, body=requests.ReadTimeout("read timed out"))
    api.add_callback("GET", f"{API}/transactions", callback=listing())
    with pytest.raises(ActionFailed) as refusal:
        payments.send(payment, RevolutClient(revolut))
    assert str(refusal.value) == ("Pas de réponse de Revolut : le paiement (requête req-0412) sera vérifié "
                                  "automatiquement.")
    payment.refresh_from_db()
    other.refresh_from_db()
    assert (payment.state, other.state) == ("unknown", "prepared")
    entry = TimelineEntry.objects.get(level="warning")
    assert entry.message == ("Réponse de Revolut non reçue (Service injoignable (ReadTimeout)) : le paiement sera "
                             "vérifié par son identifiant, jamais renvoyé en double.")
    assert (entry.provider, entry.external_ids) == ("revolut", {"request_id": "req-0412"})


@pytest.mark.parametrize("age_days, expected_to", [(0, "now"), (20, "two_weeks")])
def test_a_lookup_asks_for_two_weeks_from_the_day_before_and_never_past_the_next_minute(
    bill, mirrors, revolut, api, monkeypatch, age_days, expected_to
):
    from django.utils.dateparse import parse_datetime

    _, counterparty = mirrors
    payment = sent_payment(bill, revolut, counterparty, state="unknown", transaction_id="")
    now = timezone.now()
    created = now - timedelta(days=age_days)
    RevolutPayment.objects.filter(pk=payment.pk).update(created_at=created)
    payment.refresh_from_db()
    monkeypatch.setattr(timezone, "now", lambda: now)
    asked = []
    api.add_callback("GET", f"{API}/transactions",
                     callback=lambda request: (asked.append(parse_qs(urlsplit(request.url).query)) or (200, {}, "[]")))
    assert payments.lookup(payment, RevolutClient(revolut)) is False
    (query,) = asked
    sent_to = parse_datetime(query["to"][0])
    wanted = now + timedelta(minutes=1) if expected_to == "now" else created - timedelta(days=1) + timedelta(days=14)
    assert abs((sent_to - wanted).total_seconds()) < 1


# Transactions of other connections, webhooks, reasons ---------------------------------------------------------
def test_a_transaction_seen_on_another_revolut_connection_never_touches_this_payment(bill, mirrors, revolut):
    from apps.revolut.models import RevolutTransaction
    from tests.revolut.conftest import make_connection

    _, counterparty = mirrors
    payment = sent_payment(bill, revolut, counterparty, state="pending")
    elsewhere = make_connection("https://sandbox-b2b.revolut.com/api/1.0")
    for record in (RevolutTransaction(connection=elsewhere, external_id=TX_ID, request_id="", state="reverted"),
                   RevolutTransaction(connection=elsewhere, external_id="", request_id=payment.request_id,
                                      state="reverted")):
        payments.apply_transaction(record)
    payment.refresh_from_db()
    assert payment.state == "pending"


def test_a_transaction_known_only_by_its_request_id_reaches_the_payment(bill, mirrors, revolut):
    from apps.revolut.models import RevolutTransaction

    _, counterparty = mirrors
    payment = sent_payment(bill, revolut, counterparty, state="unknown", transaction_id="")
    payments.apply_transaction(RevolutTransaction(connection=revolut, external_id="", request_id=payment.request_id,
                                                  state="declined", payload={}))
    payment.refresh_from_db()
    assert (payment.state, payment.reason_code) == ("declined", "")
    assert TimelineEntry.objects.filter(level="error").latest("pk").message == "Paiement Revolut refusé par la banque."


def test_the_timeline_entry_of_a_state_names_the_webhook_that_brought_it(bill, mirrors, revolut):
    from apps.core.models import WebhookEvent
    from apps.revolut.models import RevolutTransaction

    _, counterparty = mirrors
    payment = sent_payment(bill, revolut, counterparty)
    event = WebhookEvent.objects.create(connection=revolut, provider="revolut", event_type="TransactionStateChanged",
                                        provider_event_id="evt-1", body=b"{}", headers={})
    payments.apply_transaction(RevolutTransaction(connection=revolut, external_id=TX_ID, request_id="",
                                                  state="completed", payload={}), webhook_event=event)
    entry = TimelineEntry.objects.get(message="Paiement Revolut exécuté : facture payée.")
    assert entry.webhook_event == event
    assert entry.external_ids == {"request_id": payment.request_id, "transaction_id": TX_ID, "state": "completed"}
    assert (entry.provider, entry.level) == ("revolut", "success")


def test_the_reconciliation_list_loads_each_payment_with_its_connection_bill_and_counterparty(bill, mirrors, revolut):
    _, counterparty = mirrors
    sent_payment(bill, revolut, counterparty, state="unknown", transaction_id="")
    (payment,) = list(payments.unconfirmed_payments())
    assert (payment.connection, payment.bill, payment.counterparty) == (revolut, bill, counterparty)


@pytest.mark.parametrize("answer, state, transaction_id", [({"id": TX_ID}, "pending", TX_ID),
                                                           ({"state": "created"}, "created", "")])
def test_a_pay_answer_missing_its_state_or_its_id_still_records_what_it_says(bill, mirrors, revolut, api, answer,
                                                                             state, transaction_id):
    _, counterparty = mirrors
    payment = sent_payment(bill, revolut, counterparty, state="prepared", transaction_id="")
    api.post(PAY_URL, json=answer)
    sent = payments.send(payment, RevolutClient(revolut))
    assert (sent.state, sent.transaction_id) == (state, transaction_id)


def test_a_re_send_that_cannot_connect_keeps_the_first_send_time_and_is_checked_not_forgotten(
    bill, mirrors, revolut, api
):
    _, counterparty = mirrors
    first_sent = timezone.now() - timedelta(hours=1)
    payment = sent_payment(bill, revolut, counterparty, state="unknown", transaction_id="", first_sent_at=first_sent)
    api.add_callback("GET", f"{API}/transactions", callback=listing())
    api.post(PAY_URL, body=requests.ConnectTimeout("connect timed out"))
    with pytest.raises(ActionFailed) as refusal:
        payments.send(payment, RevolutClient(revolut))
    assert "sera vérifié automatiquement" in str(refusal.value)  # the first attempt may have reached Revolut
    payment.refresh_from_db()
    assert payment.first_sent_at == first_sent


def test_a_reason_code_is_shown_only_on_a_failure(bill, mirrors, revolut):
    _, counterparty = mirrors
    payment = sent_payment(bill, revolut, counterparty)
    payments.apply_state(payment, "completed", reason_code="note")
    assert TimelineEntry.objects.get().message == "Paiement Revolut exécuté : facture payée."


def test_a_click_without_a_known_user_still_says_a_payment_awaits_approval(bill, mirrors, revolut):
    run = ActionRun(action="revolut.pay_bill", object_id=str(bill.pk), status=ActionRun.Status.PENDING_APPROVAL)
    payments.on_action_run_changed(None, run)
    assert TimelineEntry.objects.get().message == "Paiement demandé par ? : en attente d'un second approbateur."


def test_a_duplicate_request_not_found_yet_says_so_on_the_timeline(bill, mirrors, revolut, api):
    _, counterparty = mirrors
    payment = sent_payment(bill, revolut, counterparty, state="prepared", transaction_id="")
    api.post(PAY_URL, status=400, json={"code": 3020, "message": "Duplicate request"})
    api.add_callback("GET", f"{API}/transactions", callback=listing())
    with pytest.raises(ActionFailed):
        payments.send(payment, RevolutClient(revolut))
    assert TimelineEntry.objects.get(level="warning").message == (
        "Réponse de Revolut non reçue (Duplicate request) : le paiement sera vérifié par son identifiant, "
        "jamais renvoyé en double.")
    payment.refresh_from_db()
    assert payment.state == "unknown"
