"""Journey 3: treasury keeps "Soldes en direct" open; a payment completes at the bank; the balance moves in place."""

import pytest

from tests.e2e.browsing import log_in
from tests.e2e.records import staff_user
from tests.e2e.revolut_steps import watch_balance_move_live


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_balance_changes_live_when_a_payment_completes(browsing, console, demo):
    treasurer = staff_user("dominique", "view_console", "view_balances")
    balances = browsing.new_page()
    log_in(balances, treasurer)

    watch_balance_move_live(balances, browsing.new_page(), console.sandbox_url)
