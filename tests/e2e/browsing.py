"""What a person does in the browser, written once for every journey.

Labels are the French ones staff see. Waits are for what a user would see change; the record pages
that the issues do not require to update live are reloaded while waiting (`wait_for_record_status`).
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from playwright.sync_api import APIResponse, Browser, BrowserContext, Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

BASE_DIR = Path(__file__).resolve().parents[2]
ARTIFACTS_DIR = BASE_DIR / "test-artifacts" / "e2e"

ACTION_TIMEOUT_MS = 15_000
# Work done by the worker, a webhook round trip, a live push: seconds, not milliseconds.
BACKGROUND_TIMEOUT_S = 30

# Counts the live sockets htmx's ws extension opened, so a journey never acts before the page listens.
LIVE_SOCKET_PROBE = """
window.__e2eSocketsOpen = 0;
document.addEventListener('htmx:wsOpen', () => { window.__e2eSocketsOpen += 1; });
"""


@dataclass
class User:
    username: str
    password: str
    # Hex key of the user's TOTP device (django-otp), for those who need a second factor (records.staff_user).
    totp_key: str = ""
    last_totp_step: int = -1


TOTP_STEP_SECONDS = 30


def totp_code(user: User) -> str:
    """A code the user's authenticator shows, never one already used (the console accepts each 30 s step once).

    The current step if unused, else the next one (the console accepts one step of clock drift); if even that
    was used, wait for time to move on.
    """
    from django_otp.oath import totp

    assert user.totp_key, f"{user.username} has no TOTP device (records.staff_user gives one to money movers)"
    while True:
        now_step = int(time.time()) // TOTP_STEP_SECONDS
        step = max(now_step, user.last_totp_step + 1)
        if step <= now_step + 1:
            break
        time.sleep(1)
    user.last_totp_step = step
    return f"{totp(bytes.fromhex(user.totp_key), TOTP_STEP_SECONDS, 0, 6, step - now_step):06d}"


@dataclass
class Browsing:
    """The browser windows of one test: one isolated context per person, all screenshotted on failure."""

    browser: Browser
    console_url: str
    contexts: list[BrowserContext] = field(default_factory=list)
    # Errors the pages reported (CSP violations, failed scripts, refused sockets), shown when a test fails.
    browser_errors: list[str] = field(default_factory=list)

    def new_page(self) -> Page:
        context = self.browser.new_context(
            base_url=self.console_url,
            locale="fr-FR",
            timezone_id="Europe/Paris",
            viewport={"width": 1366, "height": 900},
        )
        context.set_default_timeout(ACTION_TIMEOUT_MS)
        context.add_init_script(LIVE_SOCKET_PROBE)
        self.contexts.append(context)
        page = context.new_page()
        page.on("console", lambda message: self._note_console_message(page, message))
        page.on("pageerror", lambda error: self.browser_errors.append(f"{page.url}: {error}"))
        return page

    def _note_console_message(self, page: Page, message) -> None:
        if message.type == "error" and not message.location.get("url", "").endswith("/favicon.ico"):
            self.browser_errors.append(f"{page.url}: {message.text}")

    def pages(self) -> list[Page]:
        return [page for context in self.contexts for page in context.pages]

    def close(self) -> None:
        for context in self.contexts:
            context.close()


# Screenshots -----------------------------------------------------------------------------------------

_step_numbers: dict[str, int] = {}


def current_test_name() -> str:
    # "tests/e2e/test_login.py::test_name (call)"
    current = os.environ.get("PYTEST_CURRENT_TEST", "outside-a-test")
    return current.split("::")[-1].split(" ")[0]


def step(page: Page, name: str) -> Path:
    """Screenshot the page at the end of a step: test-artifacts/e2e/<test>/<nn>-<name>.png."""
    test = current_test_name()
    _step_numbers[test] = _step_numbers.get(test, 0) + 1
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    path = ARTIFACTS_DIR / test / f"{_step_numbers[test]:02d}-{slug}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=path, full_page=True)
    return path


# Signing in ------------------------------------------------------------------------------------------


SECOND_FACTOR_PATH = re.compile(r"/console/second-factor/")


def log_in(page: Page, user: User) -> None:
    """Password, then, for those who move money, the code of their authenticator (the second-factor page)."""
    page.goto("/admin/login/")
    page.get_by_label(re.compile(r"^Nom d.utilisateur")).fill(user.username)
    page.get_by_label("Mot de passe").fill(user.password)
    page.get_by_role("button", name="Connexion").click()
    expect(page).not_to_have_url(re.compile(r"/admin/login/"))
    if user.totp_key:
        expect(page, f"{user.username} moves money: a second factor is asked").to_have_url(SECOND_FACTOR_PATH)
        page.get_by_label(re.compile(r"^Code à 6 chiffres")).fill(totp_code(user))
        page.get_by_role("button", name="Vérifier").click()
    expect(page).not_to_have_url(SECOND_FACTOR_PATH)


# Staying on the page ---------------------------------------------------------------------------------


def mark_page(page: Page) -> None:
    """Leave a mark in the page's JavaScript state; any navigation or reload erases it."""
    page.evaluate("window.__e2eMarker = 1")


def assert_not_navigated(page: Page) -> None:
    assert page.evaluate("window.__e2eMarker === 1"), f"{page.url} was reloaded or left; expected an in-place update"


def wait_for_live_sockets(page: Page) -> None:
    """Wait until every `ws-connect` element of the page has its socket open (no-op on pages without)."""
    expected = page.locator("[ws-connect]").count()
    if expected:
        page.wait_for_function(
            "n => window.__e2eSocketsOpen >= n", arg=expected, timeout=BACKGROUND_TIMEOUT_S * 1000
        )


def occurrences(page: Page, text: str) -> int:
    return page.evaluate("t => document.body.innerText.split(t).length - 1", text)


def wait_until(page: Page, expression: str, arg=None, *, failure: str, timeout: float = BACKGROUND_TIMEOUT_S) -> None:
    """Wait for a JavaScript condition on the page; if it never holds, fail with `failure`, not a bare timeout."""
    try:
        page.wait_for_function(expression, arg=arg, timeout=timeout * 1000)
    except PlaywrightTimeoutError:
        raise AssertionError(f"{failure} (waited {timeout:g}s on {page.url})") from None


# Contextual actions ----------------------------------------------------------------------------------

CONFIRM_BUTTON = re.compile(r"^Confirmer")


def js_regex_escape(text: str) -> str:
    """re.escape() also escapes spaces and accents, which Playwright hands to JavaScript's RegExp as is."""
    return re.sub(r"[.*+?^${}()|[\]\\]", lambda match: "\\" + match.group(0), text)


def action_control(page: Page, label: str):
    """The button, or the link to its confirmation step ("Envoyer le devis…"), that carries an action's label.

    Disabled buttons count too: their accessible name is "<label> — <reason>".
    """
    name = re.compile(rf"^{js_regex_escape(label)}(…|\.\.\.)?($| — )")
    return page.get_by_role("button", name=name).or_(page.get_by_role("link", name=name))


def click_and_confirm(page: Page, label: str, *, confirm: bool) -> None:
    """Click an action button; when `confirm`, a confirmation (native dialog or "Confirmer" button) is required."""
    dialogs: list[str] = []

    def accept(dialog):
        dialogs.append(dialog.message)
        dialog.accept()

    page.on("dialog", accept)
    try:
        button = action_control(page, label)
        expect(button, f'no "{label}" button on {page.url}').to_have_count(1)
        expect(button, f'"{label}" is disabled on {page.url}').to_be_enabled()
        button.click()
        if not confirm:
            return
        confirm_button = page.get_by_role("button", name=CONFIRM_BUTTON)
        deadline = time.monotonic() + ACTION_TIMEOUT_MS / 1000
        while not dialogs:
            if confirm_button.count() and confirm_button.first.is_visible():
                confirm_button.first.click()
                return
            assert time.monotonic() < deadline, f'"{label}" asked for no confirmation (dialog or "Confirmer" button)'
            page.wait_for_timeout(200)
    finally:
        page.remove_listener("dialog", accept)


def run_action(page: Page, label: str, *, confirm: bool, same_page: bool = True) -> None:
    """Click a contextual action and wait for its run to succeed, shown in place (HTMX/live swap)."""
    wait_for_live_sockets(page)
    mark_page(page)
    succeeded, failed = occurrences(page, "Réussie"), occurrences(page, "Échec")
    click_and_confirm(page, label, confirm=confirm)
    wait_until(
        page,
        """([s, f]) => {
            const text = document.body.innerText;
            return text.split('Réussie').length - 1 > s || text.split('Échec').length - 1 > f;
        }""",
        [succeeded, failed],
        failure=f'"{label}" was clicked but no run outcome ("Réussie" or "Échec") appeared in place',
    )
    assert occurrences(page, "Réussie") > succeeded, (
        f'"{label}" did not succeed; the page says:\n{page.locator("#content").inner_text()[:2000]}'
    )
    if same_page:
        assert_not_navigated(page)


# Record fields ---------------------------------------------------------------------------------------

READ_FIELD = """name => {
    const select = document.querySelector(`select#id_${name}`);
    if (select) return select.selectedIndex >= 0 ? select.options[select.selectedIndex].text.trim() : '';
    const readonly = document.querySelector(`.field-${name} .readonly`);
    return readonly ? readonly.innerText.trim() : null;
}"""


def record_field(page: Page, name: str = "status") -> str | None:
    """What the admin change form shows for a field (read-only text, or a select's chosen option)."""
    return page.evaluate(READ_FIELD, name)


def record_status(page: Page) -> str | None:
    return record_field(page, "status")


def wait_for_record_fields(page: Page, expected: dict[str, str | re.Pattern],
                           timeout: float = BACKGROUND_TIMEOUT_S) -> None:
    """Wait for the change form's fields to read `expected`, reloading every few seconds (these pages are not live)."""
    deadline = time.monotonic() + timeout
    last_reload = time.monotonic()
    while True:
        shown = {name: record_field(page, name) for name in expected}
        missing = [name for name, value in shown.items() if value is None]
        assert not missing, f"{page.url} shows no {', '.join(missing)} field (.field-<name> or select#id_<name>)"
        if all(value == want if isinstance(want, str) else want.fullmatch(value)
               for want, value in zip(expected.values(), shown.values())):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{page.url} shows {shown}, expected {expected} within {timeout}s")
        if time.monotonic() - last_reload > 3:
            page.reload()
            last_reload = time.monotonic()
        else:
            page.wait_for_timeout(500)


def wait_for_record_status(page: Page, label: str | re.Pattern, timeout: float = BACKGROUND_TIMEOUT_S) -> None:
    wait_for_record_fields(page, {"status": label}, timeout)


def wait_for_live_record_field(page: Page, name: str, label: str) -> None:
    """Wait, without reloading, for the open change form to show `label` for a field (a live record page)."""
    wait_until(
        page, f"([name, label]) => ({READ_FIELD})(name) === label", [name, label],
        failure=f"the open page never showed {name} « {label} » by itself (it shows « {record_field(page, name)} »)",
    )


# Requests forged by hand -----------------------------------------------------------------------------


def csrf_token(page: Page) -> str:
    cookies = {cookie["name"]: cookie["value"] for cookie in page.context.cookies()}
    assert "csrftoken" in cookies, "no csrftoken cookie: the page rendered no form and no CSRF meta tag"
    return cookies["csrftoken"]


def post_as(page: Page, url: str, form: dict[str, str] | None = None) -> APIResponse:
    """POST as the page's user would through htmx: their session, their own CSRF token, from the page they are on."""
    origin = re.match(r"^https?://[^/]+", page.url).group(0)
    return page.request.post(
        url if url.startswith("http") else origin + url,
        form=form or {},
        headers={"X-CSRFToken": csrf_token(page), "HX-Request": "true", "Origin": origin, "Referer": page.url},
        max_redirects=0,
    )
