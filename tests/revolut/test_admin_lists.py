"""The read-only Revolut lists cost the same number of queries for one row as for many."""

import uuid
from decimal import Decimal

import pytest
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.hub.models import SupplierBill
from apps.revolut.models import BalanceSnapshot, RevolutPayment

pytestmark = pytest.mark.django_db


def queries_for(client, url) -> int:
    with CaptureQueriesContext(db_connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


def add_payment(revolut, supplier, counterparty, admin_user, n):
    bill = SupplierBill.objects.create(supplier=supplier, reference=f"IMP-{n}", amount=Decimal("10.00"))
    RevolutPayment.objects.create(
        connection=revolut, bill=bill, request_id=uuid.uuid4().hex, account_external_id="acc",
        counterparty=counterparty, amount=Decimal("10.00"), currency="EUR", reference=f"IMP-{n}",
        requested_by=admin_user,
    )


def test_payments_counterparties_and_history_lists_do_not_query_per_row(admin_client, admin_user, revolut, supplier,
                                                                         mirrors):
    account, counterparty = mirrors
    add_payment(revolut, supplier, counterparty, admin_user, 0)
    BalanceSnapshot.objects.create(account=account, balance=Decimal("1.00"), recorded_at=timezone.now())
    urls = ["/admin/revolut/revolutpayment/", "/admin/revolut/revolutcounterparty/",
            "/admin/revolut/balancesnapshot/", "/admin/revolut/revolutaccount/"]
    with_one = [queries_for(admin_client, url) for url in urls]

    for n in range(1, 5):
        add_payment(revolut, supplier, counterparty, admin_user, n)
        BalanceSnapshot.objects.create(account=account, balance=Decimal(n), recorded_at=timezone.now())

    assert [queries_for(admin_client, url) for url in urls] == with_one
