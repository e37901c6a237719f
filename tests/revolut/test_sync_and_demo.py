"""Sync is truth: transaction pages with overlap and a checkpoint, reconciliation of lost webhooks, the demo seed."""

import io
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from apps.core.models import Connection, SyncRun
from apps.core.sync import run_sync
from apps.hub.models import SupplierBill
from apps.revolut import jobs, sandbox_state
from apps.revolut.models import RevolutCounterparty, RevolutPayment, RevolutTransaction
from apps.revolut.provider import RevolutProvider
from apps.revolut.sandbox_models import SandboxAccount, SandboxApp
from tests.revolut.conftest import SUPPLIER_IBAN, user_with

pytestmark = pytest.mark.django_db


def test_a_transaction_sync_pages_back_in_time_and_keeps_a_high_water_mark(emulated, monkeypatch):
    monkeypatch.setattr("apps.revolut.sync.TRANSACTION_PAGE", 2)
    account = SandboxAccount.objects.get(currency="EUR")
    for index in range(5):
        sandbox_state.topup(account=account, amount=Decimal("10"), currency="EUR", reference=f"T{index}")
    run = SyncRun.objects.create(connection=emulated, resource="transactions")
    run_sync(run.pk)
    run.refresh_from_db()
    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert RevolutTransaction.objects.filter(connection=emulated).count() == 5
    assert run.pages >= 3 and run.checkpoint["high_water"]


def test_counterparties_sync_links_the_supplier_by_iban(emulated, supplier):
    sandbox_state.ensure_bank_counterparty("Imprimerie du Centre", SUPPLIER_IBAN, "AGRIFRPP", "EUR", "FR")
    run = SyncRun.objects.create(connection=emulated, resource="counterparties")
    run_sync(run.pk)
    counterparty = RevolutCounterparty.objects.get(connection=emulated)
    assert counterparty.company == supplier and counterparty.iban == SUPPLIER_IBAN


def test_reconciliation_finds_a_payment_whose_answer_and_webhook_were_both_lost(emulated, supplier, settings):
    from apps.revolut.sync import CounterpartiesResource, store

    remote_counterparty = sandbox_state.ensure_bank_counterparty("Imprimerie du Centre", SUPPLIER_IBAN, "AGRIFRPP",
                                                                 "EUR", "FR")
    counterparty = store(emulated, CounterpartiesResource, [sandbox_state.counterparty_payload(remote_counterparty)])[0]
    bill = SupplierBill.objects.create(supplier=supplier, reference="F-9", amount=Decimal("90.00"),
                                       status=SupplierBill.Status.PAYMENT_PENDING)
    account = SandboxAccount.objects.get(currency="EUR")
    payment = RevolutPayment.objects.create(
        connection=emulated, bill=bill, request_id="lost-answer-1", account_external_id=str(account.id),
        counterparty=counterparty, amount=Decimal("90.00"), currency="EUR", reference="F-9", state="unknown",
        first_sent_at=timezone.now(),
    )
    tx = sandbox_state.create_payment(account=account, counterparty=remote_counterparty,
                                      receiver_account=remote_counterparty.accounts[0], amount=Decimal("90.00"),
                                      currency="EUR", reference="F-9", request_id="lost-answer-1")
    sandbox_state.move(tx, "completed")  # no webhook registered: the console heard nothing
    summary = jobs.reconcile_transactions()
    assert summary["looked_up"] == 1
    payment.refresh_from_db()
    assert (payment.transaction_id, payment.state) == (str(tx.id), "completed")
    assert SupplierBill.objects.get(pk=bill.pk).status == SupplierBill.Status.PAID


def test_demo_seed_is_idempotent_and_ready_for_the_consent(settings, db):
    settings.SANDBOX_BASE_URL = "http://127.0.0.1:8123"  # where the launcher started the sandbox process
    from apps.hub.models import Company

    Company.objects.create(name="Imprimerie du Centre", is_supplier=True, is_client=False, iban=SUPPLIER_IBAN,
                           bic="AGRIFRPP")
    for _ in range(2):
        RevolutProvider().seed_demo(io.StringIO())
    connection = Connection.objects.get(provider="revolut")
    assert connection.base_url == "http://127.0.0.1:8123/sandbox/revolut"
    assert connection.config["client_id"] == SandboxApp.objects.get().client_id
    assert connection.secret("private_key_pem") and connection.config["certificate_pem"]
    assert sorted(SandboxAccount.objects.values_list("currency", flat=True)) == ["EUR", "GBP", "USD"]


def test_demo_seed_points_its_connection_at_the_sandbox_process_of_this_run(settings, db):
    settings.SANDBOX_BASE_URL = "http://127.0.0.1:8123"
    RevolutProvider().seed_demo(io.StringIO())
    settings.SANDBOX_BASE_URL = "http://127.0.0.1:9456"  # `make run` again, the sandbox on another port
    RevolutProvider().seed_demo(io.StringIO())
    assert Connection.objects.get(provider="revolut").base_url == "http://127.0.0.1:9456/sandbox/revolut"


def test_the_hub_page_lists_bills_to_pay_and_recent_activity(revolut, bill):
    client = Client()
    client.force_login(user_with("comptable", "view_console", "pay_suppliers"))
    page = client.get("/revolut/").content.decode()
    assert "IMP-2026-0412" in page and "Derniers webhooks" in page and "Dernières synchronisations" in page
    assert "Soldes en direct" not in page  # no view_balances: no balances on the hub either


def test_one_odd_counterparty_fails_alone_and_long_values_are_cut_visibly(revolut, api):
    from tests.revolut.conftest import API

    def counterparty(number, **fields):
        return {"id": f"00000000-0000-0000-0000-00000000000{number}", "name": f"Fournisseur {number}",
                "state": "created", "created_at": "2026-03-01T10:00:00.000000Z",
                "updated_at": "2026-03-01T10:00:00.000000Z",
                "accounts": [{"id": f"acc-{number}", "iban": "FR7630006000011234567890189", "currency": "EUR"}],
                **fields}

    long_iban = "FR76" + "1" * 60
    api.get(f"{API}/counterparties", json=[
        counterparty(1),
        counterparty(2, updated_at="2026-13-45T99:00:00Z"),  # impossible date
        counterparty(3, name="Très longue raison sociale " * 20,
                     accounts=[{"id": "acc-3", "iban": long_iban, "currency": "EUR"}]),
    ])
    run = SyncRun.objects.create(connection=revolut, resource="counterparties")
    run_sync(run.pk)
    run.refresh_from_db()
    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert run.failed == 1
    stored = {c.external_id[-1]: c for c in RevolutCounterparty.objects.filter(connection=revolut)}
    assert set(stored) == {"1", "3"}
    long_one = stored["3"]
    assert len(long_one.name) == 200 and long_one.name.endswith("…")
    assert len(long_one.iban) == 34 and long_one.iban.endswith("…")  # visibly cut: never a valid IBAN to pay
