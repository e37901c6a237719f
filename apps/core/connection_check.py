"""Run a provider's connection test and record the outcome on the connection's health.

Shared by `manage.py connection test`, the admin action "Tester la connexion" and the system hubs.
"""

from dataclasses import dataclass

from django.utils.translation import gettext as _

from apps.core import providers
from apps.core.http import ApiError
from apps.core.models import Connection


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    message: str


def check_connection(connection: Connection) -> CheckResult:
    """Call `provider.test_connection(connection)`; a success or a failure updates the health fields.

    The message is safe to show: providers raise ApiError (whose messages never carry a secret) or
    exceptions whose text they control.
    """
    try:
        provider = providers.for_connection(connection)
    except providers.UnknownProvider as exc:
        return CheckResult(False, str(exc))

    failures_before = _failure_marker(connection)
    try:
        summary = provider.test_connection(connection)
    except NotImplementedError:
        return CheckResult(False, _("Le système %(system)s ne propose pas de test de connexion.")
                           % {"system": provider.label})
    except Exception as exc:  # any failure of the vendor call is the answer the user asked for
        message = str(exc) if isinstance(exc, ApiError) else f"{type(exc).__name__} : {exc}"
        message = message[:500] or type(exc).__name__
        # The HTTP base already records server and network failures; count each failure once.
        if _failure_marker(connection, refresh=True) == failures_before:
            connection.record_failure(message)
        return CheckResult(False, message)
    connection.record_success()
    return CheckResult(True, str(summary or _("Connexion établie.")))


def _failure_marker(connection: Connection, *, refresh: bool = False):
    if refresh:
        connection.refresh_from_db(fields=["last_error_at", "consecutive_failures", "circuit_open_until"])
    return connection.last_error_at
