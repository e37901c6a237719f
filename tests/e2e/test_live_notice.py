"""The "reconnexion…" notice of a live page (apps/core/static/core/live-status.js), in the browser, without the
console: the socket events htmx's ws extension fires are dispatched by hand, so each race is played in order.

The record-page journey once kept the notice up forever: the actions socket came back first, the page caught
up, and the catch-up replaced the timeline and the DocuSeal panel while their own sockets were still down. Their
new elements then connected for the first time, which the script did not count as a return.
"""

import pytest
from playwright.sync_api import expect

from tests.e2e.browsing import BASE_DIR

LIVE_STATUS_JS = BASE_DIR / "apps" / "core" / "static" / "core" / "live-status.js"
NOTICE = "Mise à jour en direct interrompue — reconnexion…"
PAGE = f"""
<p role="status" class="console-live-lost" hidden>{NOTICE}</p>
<section id="actions" ws-connect="/ws/live/actions/"></section>
<div id="panel-slot"><div id="panel" ws-connect="/ws/live/panel/"></div></div>
"""


@pytest.fixture
def live_page(browser):
    page = browser.new_page()
    page.set_content(PAGE)
    page.add_script_tag(path=str(LIVE_STATUS_JS))
    yield page
    page.close()


def socket_event(page, name, selector):
    page.eval_on_selector(selector, "(element, name) => element.dispatchEvent("
                          "new CustomEvent(name, {bubbles: true, detail: {event: {code: 1006}}}))", name)


def replace_panel(page):
    """What an out-of-band swap does: the old element leaves the page, a new one with its own socket comes in."""
    page.eval_on_selector("#panel-slot", "slot => { slot.innerHTML = "
                          "'<div id=\"new-panel\" ws-connect=\"/ws/live/panel/\"></div>'; }")


def test_the_notice_shows_while_any_socket_is_down_and_goes_once_all_are_back(live_page):
    notice = live_page.get_by_text(NOTICE)
    expect(notice).to_be_hidden()
    socket_event(live_page, "htmx:wsClose", "#actions")
    socket_event(live_page, "htmx:wsClose", "#panel")
    expect(notice).to_be_visible()
    socket_event(live_page, "htmx:wsOpen", "#actions")
    expect(notice, "the notice went while the panel's socket was still down").to_be_visible()
    socket_event(live_page, "htmx:wsOpen", "#panel")
    expect(notice).to_be_hidden()


def test_the_notice_goes_when_a_down_socket_was_replaced_by_a_new_one_that_connected(live_page):
    notice = live_page.get_by_text(NOTICE)
    socket_event(live_page, "htmx:wsClose", "#actions")
    socket_event(live_page, "htmx:wsClose", "#panel")
    socket_event(live_page, "htmx:wsOpen", "#actions")
    replace_panel(live_page)  # the catch-up re-rendered the panel while its socket was down
    socket_event(live_page, "htmx:wsOpen", "#new-panel")  # its first connection
    expect(notice, "the notice stayed up although every socket on the page is connected").to_be_hidden()


def test_the_notice_stays_while_a_replacement_socket_has_not_connected_yet(live_page):
    notice = live_page.get_by_text(NOTICE)
    socket_event(live_page, "htmx:wsClose", "#actions")
    socket_event(live_page, "htmx:wsClose", "#panel")
    replace_panel(live_page)
    socket_event(live_page, "htmx:wsOpen", "#actions")
    expect(notice, "the notice went before the new panel's socket connected").to_be_visible()
    socket_event(live_page, "htmx:wsOpen", "#new-panel")
    expect(notice).to_be_hidden()
