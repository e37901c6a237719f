"""Steps shared by the Revolut journeys: the live balances page and the bank's side (the sandbox)."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.e2e.browsing import (
    BACKGROUND_TIMEOUT_S,
    MONEY,
    assert_not_navigated,
    mark_page,
    money_amounts,
    step,
    wait_for_live_sockets,
)

BALANCES_PATH = "/revolut/balances/"
SANDBOX_DASHBOARD_PATH = "/sandbox/revolut/"
COMPLETE = re.compile(r"^Compléter")


def open_live_balances(page: Page) -> list[str]:
    """Open "Soldes en direct", wait for its socket, return the amounts it shows."""
    page.goto(BALANCES_PATH)
    expect(page.get_by_role("heading", name=re.compile("Soldes en direct"))).to_be_visible()
    assert page.locator("[ws-connect]").count(), f"{BALANCES_PATH} opens no live socket (no [ws-connect])"
    wait_for_live_sockets(page)
    amounts = money_amounts(page)
    assert amounts, f"{BALANCES_PATH} shows no amount formatted like 1 234,56"
    return amounts


def complete_in_revolut_sandbox(sandbox: Page, sandbox_url: str, reference: str | None = None) -> None:
    """On the bank's side, complete a pending transaction (the one carrying `reference`, if given)."""
    sandbox.goto(sandbox_url + SANDBOX_DASHBOARD_PATH)
    buttons = sandbox.get_by_role("button", name=COMPLETE)
    if reference:
        buttons = sandbox.locator("tr, li, article").filter(has_text=reference).get_by_role("button", name=COMPLETE)
    assert buttons.count(), (
        f"no \"Compléter\" button on {SANDBOX_DASHBOARD_PATH}"
        + (f" for a transaction referenced {reference!r}" if reference else " (no pending transaction)")
    )
    buttons.first.click()
    step(sandbox, "transaction completed in the revolut sandbox")


def watch_balance_move_live(balances: Page, sandbox: Page, sandbox_url: str) -> list[str]:
    """Complete a payment at the bank while "Soldes en direct" stays open; its amounts must change in place."""
    before = open_live_balances(balances)
    mark_page(balances)
    step(balances, "live balances before")

    complete_in_revolut_sandbox(sandbox, sandbox_url)

    balances.wait_for_function(
        """([pattern, before]) => {
            const content = document.querySelector('#content');
            const now = (content.innerText.match(new RegExp(pattern, 'g')) || []);
            return JSON.stringify(now) !== JSON.stringify(before);
        }""",
        arg=[MONEY.pattern, before],
        timeout=BACKGROUND_TIMEOUT_S * 1000,
    )
    assert_not_navigated(balances)
    step(balances, "live balances after")
    return money_amounts(balances)

