"""Browser journeys against the console running as production runs it.

Session: pytest-django creates the test database; the web (uvicorn, the emulators included), RQ worker and
scheduler processes are started on it (see processes.py). Each journey is a `transactional_db` test with
serialized rollback: what it writes is committed (the servers see it), and after it the database is
emptied and the data of the migrations (permission groups) restored for the next one.

Browser: Debian's Chromium at /usr/bin/chromium, driven by Playwright for Python; never a downloaded browser.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.e2e.browsing import ARTIFACTS_DIR, BASE_DIR, Browsing
from tests.e2e.processes import start_console

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SQLITE_TEST_DATABASE = BASE_DIR / "var" / "test_e2e.sqlite3"


def pytest_collection_finish(session):
    """The servers are other processes: an in-memory SQLite test database would be invisible to them."""
    from django.conf import settings

    if not any(item.get_closest_marker("e2e") for item in session.items):
        return
    database = settings.DATABASES["default"]
    if database["ENGINE"] == "django.db.backends.sqlite3":
        database.setdefault("TEST", {})["NAME"] = str(SQLITE_TEST_DATABASE)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call" and report.failed and item.get_closest_marker("e2e"):
        browsing = item.funcargs.get("browsing")
        if browsing is not None:
            saved = save_failure_screenshots(item.name, browsing)
            report.sections.append(("e2e screenshots", "\n".join(str(path) for path in saved)))
            if browsing.browser_errors:
                report.sections.append(("e2e browser console errors", "\n".join(browsing.browser_errors)))
        console = item.funcargs.get("console")
        if console is not None:
            report.sections.append(("e2e process logs (tails)", console.log_tails()))
    return report


def save_failure_screenshots(test_name: str, browsing: Browsing) -> list[Path]:
    ARTIFACTS_DIR.mkdir(parents=True, exist_ok=True)
    saved = []
    for number, page in enumerate(browsing.pages()):
        suffix = "" if number == 0 else f"-{number + 1}"
        path = ARTIFACTS_DIR / f"{test_name}{suffix}.png"
        try:
            page.screenshot(path=path, full_page=True)
        except Exception as exc:  # noqa: BLE001 - a closed page must not hide the test's own failure
            path.with_suffix(".txt").write_text(f"no screenshot of {page.url}: {exc}\n")
            continue
        saved.append(path)
    return saved


def database_url(settings_dict: dict) -> str:
    """A DATABASE_URL (django-environ) for the test database pytest-django created."""
    engine = settings_dict["ENGINE"]
    if engine == "django.db.backends.sqlite3":
        return f"sqlite:///{settings_dict['NAME']}"
    if engine == "django.db.backends.postgresql":
        credentials = quote(settings_dict.get("USER") or "", safe="")
        if settings_dict.get("PASSWORD"):
            credentials += ":" + quote(settings_dict["PASSWORD"], safe="")
        host = settings_dict.get("HOST") or ""
        port = f":{settings_dict['PORT']}" if settings_dict.get("PORT") else ""
        return f"postgres://{credentials}@{host}{port}/{quote(settings_dict['NAME'], safe='')}"
    raise pytest.UsageError(f"The e2e journeys do not know how to hand {engine} to the servers")


@pytest.fixture(scope="session")
def console(django_db_setup, django_db_blocker):
    """The console, its sandboxes, worker and scheduler, running on the test database until the session ends."""
    import redis
    from django.conf import settings
    from django.core.management import get_commands
    from django.db import connections

    connection = connections["default"]
    if ARTIFACTS_DIR.exists():
        shutil.rmtree(ARTIFACTS_DIR)
    ARTIFACTS_DIR.mkdir(parents=True)

    # Queued jobs, worker registrations and locks left by an earlier run would act on rows that are gone.
    redis_connection = redis.Redis.from_url(settings.REDIS_URL)
    redis_connection.flushdb()
    redis_connection.close()

    keep_serialized_contents_visible_to_playwright_context(connection)
    retry_the_flush_a_server_deadlocks(connection)
    empty_the_database_for_serialized_rollback(django_db_blocker)

    running = start_console(
        database_url=database_url(connection.settings_dict),
        redis_url=settings.REDIS_URL,
        log_dir=ARTIFACTS_DIR / "logs",
        with_scheduler="scheduler" in get_commands(),
    )
    yield running
    running.stop()


def keep_serialized_contents_visible_to_playwright_context(connection) -> None:
    """Let serialized rollback restore the migrations' data (permission groups) while Playwright runs.

    Django keeps connections in an asgiref Local, which is per-context once an event loop runs on the
    thread: with Playwright's sync API up, `connections["default"]` is a fresh wrapper that lacks the
    `_test_serialized_contents` set on the wrapper that created the test database, so TransactionTestCase
    would flush after each journey and restore nothing. Holding the snapshot on the backend class makes
    every wrapper of this backend see it (only serialized-rollback tests read it).
    """
    contents = getattr(connection, "_test_serialized_contents", None)
    if contents is not None:
        type(connection)._test_serialized_contents = contents


DEADLOCK_SQLSTATE = "40P01"
FLUSH_ATTEMPTS = 5


def retry_the_flush_a_server_deadlocks(connection) -> None:
    """Try a journey's closing flush again when PostgreSQL picks it as a deadlock's victim.

    The flush empties every table in one TRUNCATE while the servers still work on the same database (the
    worker finishing a job, the scheduler's sweeps): a server transaction holding one table and reading another
    can deadlock with it. The servers' transactions are short, so the next attempt goes through; without it the
    journey's rows stay and the next journey starts on them.
    """
    import time

    from django.db import OperationalError

    operations = type(connection.ops)
    flush = operations.execute_sql_flush
    if getattr(flush, "retries_deadlocks", False):
        return

    def execute_sql_flush(self, sql_list):
        for attempt in range(1, FLUSH_ATTEMPTS + 1):
            try:
                return flush(self, sql_list)
            except OperationalError as exc:
                if attempt == FLUSH_ATTEMPTS or getattr(exc.__cause__, "sqlstate", None) != DEADLOCK_SQLSTATE:
                    raise
                time.sleep(0.2 * attempt)

    execute_sql_flush.retries_deadlocks = True
    operations.execute_sql_flush = execute_sql_flush


def empty_the_database_for_serialized_rollback(django_db_blocker) -> None:
    """Start the journeys on an empty database, so the first one restores the migrations' rows with their ids.

    Transactional tests that ran before flushed the database and let post_migrate recreate content types and
    permissions under new ids; restoring the snapshot on top would collide, and the servers would cache ids
    that change at every journey. Flushed without post_migrate, the snapshot alone fills it, the same each time.
    """
    from django.core.management import call_command

    with django_db_blocker.unblock():
        call_command("flush", interactive=False, inhibit_post_migrate=True, verbosity=0)


@pytest.fixture(scope="package")
def browser():
    """Chromium, headless, with a fresh temporary profile (Playwright's launch() makes one per browser)."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: install Debian's Chromium (`apt-get install chromium`; .ci/run does it). "
            "The journeys never download a browser.",
            pytrace=False,
        )
    from django.db import connections
    from playwright.sync_api import expect, sync_playwright

    # Playwright's sync API runs an event loop on this thread; the ORM calls the journeys make to set up
    # their records are ordinary blocking calls, which Django refuses next to a running loop unless told.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    expect.set_options(timeout=10_000)
    try:
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
            yield chromium
            chromium.close()
            # Connections opened by the journeys live in Playwright's context: close them there, or the
            # test database cannot be dropped at the end of the session.
            connections.close_all()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def browsing(console, browser):
    """The browser windows of one test; `browsing.new_page()` opens another person's window."""
    dead = console.dead_processes()
    if dead:
        pytest.fail(f"{', '.join(p.name for p in dead)} stopped running.\n{console.log_tails()}", pytrace=False)
    # The journey's rows were restored by serialized rollback: content types may carry other ids than the ones
    # this process cached during earlier tests, and a record's actions are stored under their content type.
    from django.contrib.contenttypes.models import ContentType

    ContentType.objects.clear_cache()
    windows = Browsing(browser=browser, console_url=console.url)
    yield windows
    windows.close()


@pytest.fixture
def page(browsing):
    return browsing.new_page()


@pytest.fixture
def demo(console):
    """`manage.py demo` against the servers' database: connections to the sandboxes, demo records."""
    from django.core.management import get_commands

    from apps.core.models import Connection

    if "demo" not in get_commands():
        pytest.fail("manage.py demo does not exist yet (issue 2 §4): the journeys seed through it", pytrace=False)
    result = console.manage("demo")
    if result.returncode != 0:
        pytest.fail(f"manage.py demo failed ({result.returncode}):\n{result.stdout}\n{result.stderr}", pytrace=False)
    return Connection.objects.all()
