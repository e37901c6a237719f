"""Outbound HTTP base shared by every system's client.

One requests.Session per connection, timeouts on every call, retries only where a retry is safe
(network errors before sending, 5xx, 429 with Retry-After, capped exponential backoff), a
per-connection circuit breaker, and one ApiCall row per attempt with a redacted URL and no body.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from datetime import timedelta
from email.utils import parsedate_to_datetime
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests
import simplejson
from django.conf import settings
from django.views.decorators.debug import sensitive_variables
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.core.models import ApiCall, Connection

logger = logging.getLogger(__name__)

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
SENSITIVE_QUERY_KEYS = frozenset(
    {"token", "api_token", "access_token", "refresh_token", "key", "secret", "password", "code", "client_secret",
     "api_key", "apikey", "client_assertion", "signature", "sig", "auth", "private_token", "id_token"}
)
# Secret values shorter than this are not scrubbed from messages (they would match ordinary words).
MIN_SCRUBBED_SECRET_LENGTH = 8
REQUEST_ID_HEADERS = ("X-Request-Id", "X-Request-ID", "Request-Id", "X-Correlation-Id")
CIRCUIT_FAILURE_THRESHOLD = 5
CIRCUIT_OPEN_FOR = timedelta(seconds=60)


class ApiError(Exception):
    """A vendor call that did not succeed. The message is safe to show: no secret, no raw body."""

    def __init__(self, message, *, status=None, payload=None, request_id="", maybe_sent=False):
        super().__init__(message)
        self.status = status
        self.payload = payload  # parsed JSON error body (vendor error fields), never a request body
        self.request_id = request_id
        self.maybe_sent = maybe_sent  # True when the vendor may have acted although we got no answer


class ClientError(ApiError):
    """4xx other than 429: our request is wrong or refused; retrying will not help."""


class AuthenticationError(ClientError):
    """401/403 on credentials: the connection needs attention."""


class RateLimited(ApiError):
    pass


class ServerError(ApiError):
    pass


class NetworkError(ApiError):
    pass


class CircuitOpen(ApiError):
    pass


def json_body(value) -> bytes:
    """A request's JSON body. Decimals are written as the number literal they hold (simplejson's use_decimal),
    never through a binary float: 98765432109876.54 leaves as 98765432109876.54, not ...55. NaN and
    infinities are refused (ValueError) rather than sent as tokens no JSON parser accepts."""
    return simplejson.dumps(value, use_decimal=True, allow_nan=False, ensure_ascii=False).encode()


def redact_url(url: str) -> str:
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if parts.port:
        netloc += f":{parts.port}"
    query = urlencode(
        [(k, "***" if k.lower() in SENSITIVE_QUERY_KEYS else v) for k, v in parse_qsl(parts.query, keep_blank_values=True)]
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def retry_after_seconds(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            return max(0.0, (parsedate_to_datetime(value) - timezone.now()).total_seconds())
        except (TypeError, ValueError):
            return None


def _may_have_been_sent(exc: requests.RequestException) -> bool:
    """False only when the request provably never reached the server (refused, DNS, connect timeout)."""
    if isinstance(exc, requests.ConnectTimeout):
        return False
    return not (isinstance(exc, requests.ConnectionError) and "NewConnectionError" in repr(exc.args))


_sessions: dict[int, requests.Session] = {}
_sessions_lock = threading.Lock()


def session_for(connection: Connection) -> requests.Session:
    with _sessions_lock:
        session = _sessions.get(connection.pk)
        if session is None:
            session = _sessions[connection.pk] = requests.Session()
        return session


@sensitive_variables()
def _secret_values(connection: Connection) -> list[str]:
    stored = [*connection.secrets.values(), *connection.webhook_secrets, *connection.oauth_token.values()]
    return [v for v in stored if isinstance(v, str) and len(v) >= MIN_SCRUBBED_SECRET_LENGTH]


class ApiClient:
    """Subclass per system: set `default_headers`, override `auth_headers()` and, if needed, `error_message()`."""

    default_headers: dict[str, str] = {"Accept": "application/json"}
    # Seconds to wait between attempts; tests replace it to run instantly.
    sleep = staticmethod(time.sleep)

    def __init__(self, connection: Connection, *, base_url: str | None = None):
        self.connection = connection
        self.base_url = (base_url or connection.base_url).rstrip("/")
        self.session = session_for(connection)
        self.max_retries = settings.HTTP_MAX_RETRIES
        self.timeout = (settings.HTTP_CONNECT_TIMEOUT, settings.HTTP_READ_TIMEOUT)

    # Hooks for subclasses -------------------------------------------------------------------------
    def auth_headers(self) -> dict[str, str]:
        return {}

    def before_request(self) -> None:
        """Called before every attempt (rate limiter, token refresh)."""

    def on_unauthorized(self, response: requests.Response) -> bool:
        """Return True if credentials were renewed and the attempt should be repeated once."""
        return False

    def error_message(self, response: requests.Response, payload) -> str:
        if isinstance(payload, dict):
            for key in ("message", "error_description", "error"):
                if isinstance(payload.get(key), str):
                    return payload[key][:300]
        return f"HTTP {response.status_code}"

    # The call -------------------------------------------------------------------------------------
    def url(self, path: str) -> str:
        return path if path.startswith("http") else f"{self.base_url}/{path.lstrip('/')}"

    @sensitive_variables("request_headers")
    def request(self, method: str, path: str, *, params=None, json=None, data=None, headers=None,
                timeout=None, allow_retry: bool = True) -> requests.Response:
        method = method.upper()
        url = self.url(path)
        if json is not None:
            data, json = json_body(json), None
            headers = {"Content-Type": "application/json", **(headers or {})}
        self._check_circuit()
        attempt = 0
        renewed_credentials = False
        while True:
            attempt += 1
            self.before_request()
            request_headers = {**self.default_headers, **self.auth_headers(), **(headers or {})}
            started = time.monotonic()
            try:
                response = self.session.request(
                    method, url, params=params, json=json, data=data, headers=request_headers,
                    timeout=timeout or self.timeout, allow_redirects=False,
                )
            except requests.RequestException as exc:
                sent = _may_have_been_sent(exc)
                error = NetworkError(
                    _("Service injoignable (%(error)s)") % {"error": type(exc).__name__}, maybe_sent=sent and method not in IDEMPOTENT_METHODS
                )
                self._record(method, url, None, started, attempt, "", str(error))
                safe_to_retry = method in IDEMPOTENT_METHODS or not sent
                if allow_retry and safe_to_retry and attempt <= self.max_retries:
                    self.sleep(self._backoff(attempt))
                    continue
                self._failure(str(error))
                raise error from None

            request_id = next((response.headers[h] for h in REQUEST_ID_HEADERS if h in response.headers), "")
            status = response.status_code
            if status < 400:
                self._record(method, url, status, started, attempt, request_id, "")
                self._success()
                return response

            payload = self._json_or_none(response)
            message = self._scrub(self.error_message(response, payload))
            self._record(method, url, status, started, attempt, request_id, message)

            if status == 401 and not renewed_credentials and self.on_unauthorized(response):
                renewed_credentials = True
                continue
            if status == 429 or status >= 500:
                wait = retry_after_seconds(response)
                if allow_retry and attempt <= self.max_retries and (
                    status in (429, 503) or method in IDEMPOTENT_METHODS
                ):
                    self.sleep(min(wait if wait is not None else self._backoff(attempt),
                                   settings.HTTP_BACKOFF_CAP_SECONDS))
                    continue
                if status >= 500:
                    self._failure(message)
                    raise ServerError(message, status=status, payload=payload, request_id=request_id,
                                      maybe_sent=method not in IDEMPOTENT_METHODS)
                raise RateLimited(message, status=status, payload=payload, request_id=request_id)
            error_class = AuthenticationError if status in (401, 403) else ClientError
            raise error_class(message, status=status, payload=payload, request_id=request_id)

    def get(self, path, **kwargs):
        return self.request("GET", path, **kwargs)

    def post(self, path, **kwargs):
        return self.request("POST", path, **kwargs)

    def put(self, path, **kwargs):
        return self.request("PUT", path, **kwargs)

    def patch(self, path, **kwargs):
        return self.request("PATCH", path, **kwargs)

    def delete(self, path, **kwargs):
        return self.request("DELETE", path, **kwargs)

    # Internals ------------------------------------------------------------------------------------
    @staticmethod
    def _json_or_none(response):
        try:
            return response.json()
        except ValueError:
            return None

    def _backoff(self, attempt: int) -> float:
        return min(settings.HTTP_BACKOFF_CAP_SECONDS, (2 ** (attempt - 1)) * 0.5) * random.uniform(0.5, 1.0)

    def _scrub(self, message: str) -> str:
        """Vendors sometimes echo what they refused ("Invalid token abc…"): never keep a secret in a message."""
        for value in _secret_values(self.connection):
            message = message.replace(value, "***")
        return message

    def _check_circuit(self):
        until = self.connection.circuit_open_until
        if until and until > timezone.now():
            raise CircuitOpen(
                _("%(name)s est indisponible ; nouvel essai après %(time)s.")
                % {"name": self.connection.name, "time": f"{timezone.localtime(until):%H:%M:%S}"}
            )

    def _success(self):
        stale = self.connection.last_ok_at is None or timezone.now() - self.connection.last_ok_at > timedelta(seconds=30)
        if self.connection.consecutive_failures or self.connection.circuit_open_until or stale:
            self.connection.record_success()

    def _failure(self, message: str):
        trips = self.connection.consecutive_failures + 1 >= CIRCUIT_FAILURE_THRESHOLD
        self.connection.record_failure(message, open_circuit_for=CIRCUIT_OPEN_FOR if trips else None)

    def _record(self, method, url, status, started, attempt, request_id, error):
        ApiCall.objects.create(
            connection=self.connection,
            method=method,
            url=redact_url(url)[:1000],
            status_code=status,
            duration_ms=int((time.monotonic() - started) * 1000),
            attempt=attempt,
            request_id=request_id[:120],
            error=error[:300],
        )
