"""Steps shared by the Revolut journeys: connecting the account, the live balances, the bank's side (sandbox)."""

from __future__ import annotations

import re
import time
from decimal import Decimal

from playwright.sync_api import Page, expect

from tests.e2e.browsing import (
    BACKGROUND_TIMEOUT_S,
    Browsing,
    assert_not_navigated,
    log_in,
    mark_page,
    run_action,
    step,
    wait_for_live_sockets,
    wait_until,
)
from tests.e2e.records import staff_user

BALANCES_PATH = "/revolut/balances/"
SANDBOX_DASHBOARD_PATH = "/sandbox/revolut/"
COMPLETE = re.compile(r"^Compléter")


def connect_revolut(browsing: Browsing) -> None:
    """An admin connects the demo's Revolut account through the sandbox's consent page, once per journey.

    `manage.py demo` registers the key with the emulator but leaves the consent to a person (issue 5 §1).
    """
    from apps.core.models import Connection
    from apps.revolut.models import RevolutAccount

    admin = browsing.new_page()
    log_in(admin, staff_user("admin-revolut", "view_console", "manage_connections"))
    admin.goto("/revolut/connect/")
    admin.get_by_role("link", name="Connecter Revolut").click()
    consent = admin.get_by_role("heading", name=re.compile(r"^Autoriser"))
    expect(consent, "the bank's consent page did not open (see the browser console errors)").to_be_visible()
    admin.get_by_role("button", name="Autoriser").click()
    expect(admin.locator(".messagelist")).to_contain_text("Revolut est connecté.")
    step(admin, "revolut connected")

    connection = Connection.objects.get(provider="revolut")
    assert connection.token_status == Connection.TokenStatus.OK
    # The callback queued the accounts sync; payments need the EUR account it brings.
    deadline = time.monotonic() + BACKGROUND_TIMEOUT_S
    while not RevolutAccount.objects.filter(connection=connection, currency="EUR").exists():
        assert time.monotonic() < deadline, "the Revolut accounts were not synced after connecting"
        time.sleep(0.5)
    admin.context.close()


SHOWN_BALANCES = """() => Object.fromEntries(
    [...document.querySelectorAll('article.revolut-account')].map(card => [
        card.id, card.querySelector('.revolut-balance[data-balance]')?.dataset.balance ?? null,
    ])
)"""


def shown_balances(page: Page) -> dict[str, Decimal]:
    """Each account card's balance, from its machine-readable attribute (not the chart's min/max)."""
    return {card: Decimal(balance) for card, balance in page.evaluate(SHOWN_BALANCES).items() if balance}


def open_live_balances(page: Page) -> dict[str, Decimal]:
    """Open "Soldes en direct", wait for its socket, return the balances it shows."""
    page.goto(BALANCES_PATH)
    expect(page.get_by_role("heading", name=re.compile("Soldes en direct"))).to_be_visible()
    assert page.locator("[ws-connect]").count(), f"{BALANCES_PATH} opens no live socket (no [ws-connect])"
    wait_for_live_sockets(page)
    balances = shown_balances(page)
    assert balances, f"{BALANCES_PATH} shows no balance (.revolut-balance[data-balance])"
    return balances


def complete_in_revolut_sandbox(sandbox: Page, sandbox_url: str, reference: str) -> None:
    """On the bank's side, complete the pending transaction that carries `reference`."""
    sandbox.goto(sandbox_url + SANDBOX_DASHBOARD_PATH)
    button = sandbox.locator("tr").filter(has_text=reference).get_by_role("button", name=COMPLETE)
    expect(button, f"no pending transaction referenced {reference!r} to complete").to_have_count(1)
    button.click()
    step(sandbox, "transaction completed in the revolut sandbox")


def pay_bill(page: Page, bill) -> None:
    """"Payer via Revolut" on a bill under the approval threshold: the payment is sent, pending at the bank."""
    page.goto(f"/admin/hub/supplierbill/{bill.pk}/change/")
    run_action(page, "Payer via Revolut", confirm=True)
    step(page, "payment sent")


def watch_balance_move_live(browsing: Browsing, console, bill) -> dict[str, Decimal]:
    """Treasury keeps "Soldes en direct" open while a supplier payment completes at the bank.

    The account debited must show its balance lowered by the bill's amount, pushed into the open page.
    Returns the balances shown then.
    """
    treasurer = browsing.new_page()
    log_in(treasurer, staff_user("dominique", "view_console", "view_balances"))
    open_live_balances(treasurer)
    mark_page(treasurer)

    payer = browsing.new_page()
    log_in(payer, staff_user("paul", "view_console", "pay_suppliers"))
    pay_bill(payer, bill)

    # The payment is pending at the bank: the balance has not moved yet.
    before = shown_balances(treasurer)
    step(treasurer, "live balances before completion")
    complete_in_revolut_sandbox(browsing.new_page(), console.sandbox_url, bill.reference)

    wait_until(
        treasurer,
        f"before => JSON.stringify(({SHOWN_BALANCES})()) !== JSON.stringify(before)",
        {card: str(balance) for card, balance in before.items()},
        failure=f"the open balances page still shows {before} after the bank completed the payment",
    )
    assert_not_navigated(treasurer)
    step(treasurer, "live balances after completion")
    after = shown_balances(treasurer)
    moved = {card: after[card] - before[card] for card in before if after.get(card) != before[card]}
    assert list(moved.values()) == [-bill.amount], f"expected one account to move by -{bill.amount}, saw {moved}"
    return after
