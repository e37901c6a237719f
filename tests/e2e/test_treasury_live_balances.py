"""Journey 3: treasury keeps "Soldes en direct" open; a payment completes at the bank; the balance moves in place."""

from decimal import Decimal

import pytest

from tests.e2e.records import supplier_bill
from tests.e2e.revolut_steps import connect_revolut, watch_balance_move_live


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_balance_changes_live_when_a_payment_completes(browsing, console, demo):
    connect_revolut(browsing)
    bill = supplier_bill(Decimal("180.00"), reference="FAC-DURAND-0107")

    watch_balance_move_live(browsing, console, bill)
