"""What the Invoice Ninja side of a journey looks like: the record's panel on the console, the sandbox's portal."""

from __future__ import annotations

import re

from playwright.sync_api import Page

from tests.e2e.browsing import wait_until

OPEN_IN_INVOICE_NINJA = "Ouvrir dans Invoice Ninja"
NUMBER_IN_PANEL = re.compile(r"Numéro Invoice Ninja\s*:\s*(\S+)")


def panel_number(page: Page) -> str | None:
    """The number Invoice Ninja gave the record, as its panel on the console page shows it (None if none yet)."""
    panel = page.locator(".invoiceninja-panel")
    if not panel.count():
        return None
    match = NUMBER_IN_PANEL.search(panel.inner_text())
    return match.group(1) if match and match.group(1) != "—" else None


def invoice_ninja_number(page: Page) -> str:
    """Wait, without reloading (the panel is live), for the record's panel to show its Invoice Ninja number."""
    wait_until(page, r"""() => /Numéro Invoice Ninja\s*:\s*[^—\s]/.test(
                   document.querySelector('.invoiceninja-panel')?.innerText || '')""",
               failure="the record's Invoice Ninja panel never showed its number")
    return panel_number(page)


def portal_row(portal: Page, kind: str, number: str):
    """The portal's row of a quote or an invoice (their numbers are counted separately)."""
    return portal.locator(f"tr[id^='{kind}-']").filter(has=portal.get_by_role("cell", name=number, exact=True))
