"""Structured logs: one line per request, job, stored webhook, action run and vendor call, tied by a correlation id
(a webhook delivery's request and the row it stored share one line).

Format: LOG_FORMAT=json (production: one JSON object per line) or console (default, readable lines for
`make run`). Every log record, the console's own and any library's, goes through the same structlog
processors: context variables merged (correlation_id, job_id...), then `scrub_secrets`.

Correlation: `RequestLogMiddleware` takes the caller's X-Request-ID (when it looks like an id) or makes one,
binds it as `correlation_id` and answers it back. `CorrelatedJob` (django-rq's JOB_CLASS) copies the id bound
at enqueue time into the job's meta and binds it again while the job runs in the worker, so a webhook delivery,
its processing job, the action runs it triggers and the vendor calls they make (and any job they enqueue in
turn) share one id. A job enqueued outside any request (the scheduler) is its own correlation id.

Secrets: values under sensitive keys are masked; bearer/basic credentials, `token=` parameters, PEM private
keys and webhook endpoint ids are cut out of any text; every secret value a Connection holds (remembered when
a connection is loaded or saved, `remember_connection_secrets`) is replaced wherever it appears, tracebacks
included.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
import time
import uuid
from collections import OrderedDict
from contextvars import ContextVar

import structlog
from rq.job import Job
from structlog.contextvars import bind_contextvars, bound_contextvars, clear_contextvars, get_contextvars

logger = structlog.get_logger("console")

MASK = "***"
MIN_SECRET_LENGTH = 6
SENSITIVE_KEY = re.compile(r"authorization|cookie|secret|passw|private|api[-_]?key|signature|credential|"
                           r"(^|[_-])token($|[_-])|access_token|refresh_token|csrf|session", re.I)
TEXT_PATTERNS = (
    (re.compile(r"-----BEGIN[A-Z ]*PRIVATE KEY-----.*?(?:-----END[A-Z ]*PRIVATE KEY-----|\Z)", re.S),
     "[clé privée masquée]"),
    (re.compile(r"(/hooks/[^/\s'\"]+/)[0-9a-fA-F-]{32,36}"), "\\1…"),  # a webhook endpoint id, half its secret
    (re.compile(r"(?i)\b(bearer|basic|token)(\s+)[A-Za-z0-9._~+/=:-]{6,}"), rf"\1\2{MASK}"),
    (re.compile(r"(?i)\b((?:access|refresh|id)_token|client_secret|client_assertion|api_?key|password|secret|"
                r"token|code)(\s*[=:]\s*)([^&\s\"',;]+)"), rf"\1\2{MASK}"),
)
CORRELATION_HEADER = "X-Request-ID"
VALID_CORRELATION_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
HOOK_PATH = re.compile(r"^(/hooks/[^/]+/)[^/]+")  # the endpoint id is part of the webhook's secret


# --- secret values ---------------------------------------------------------------------------------------------

_known_secrets: OrderedDict[str, None] = OrderedDict()
_known_lock = threading.Lock()
MAX_KNOWN_SECRETS = 5000


def remember_secret(value) -> None:
    if isinstance(value, dict):
        for item in value.values():
            remember_secret(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            remember_secret(item)
    elif isinstance(value, str) and len(value) >= MIN_SECRET_LENGTH:
        with _known_lock:
            _known_secrets[value] = None
            _known_secrets.move_to_end(value)
            while len(_known_secrets) > MAX_KNOWN_SECRETS:
                _known_secrets.popitem(last=False)


def remember_connection_secrets(sender, instance, **kwargs) -> None:
    """post_init / pre_save receiver of Connection: its decrypted secrets become values no log line may carry."""
    for name in ("secrets", "webhook_secrets", "oauth_token"):
        value = instance.__dict__.get(name)  # not the descriptor: an unreadable secret must not raise here
        if isinstance(value, (dict, list)):
            remember_secret([item for key, item in value.items() if key != "refresh_token_issued_at"]
                            if isinstance(value, dict) else value)


def scrub_text(text: str) -> str:
    with _known_lock:
        known = sorted(_known_secrets, key=len, reverse=True)
    for secret in known:
        if secret in text:
            text = text.replace(secret, MASK)
    for pattern, replacement in TEXT_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _scrub(value, key=""):
    if isinstance(value, dict):
        return {k: _scrub(v, str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_scrub(item, key) for item in value]
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if key and SENSITIVE_KEY.search(key):
        return MASK
    # Any other object (a request, an exception) would be rendered through its repr: scrub that text.
    return scrub_text(value if isinstance(value, str) else repr(value))


def scrub_secrets(logger, method_name, event_dict):
    """structlog processor, last before rendering: nothing it lets through holds a secret."""
    return {key: _scrub(value, "" if key in ("event", "exception") else key) for key, value in event_dict.items()}


# --- configuration ---------------------------------------------------------------------------------------------

SHARED_PROCESSORS = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.stdlib.ExtraAdder(),
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


def formatter(log_format: str) -> structlog.stdlib.ProcessorFormatter:
    renderer = (structlog.processors.JSONRenderer(ensure_ascii=False) if log_format == "json"
                else structlog.dev.ConsoleRenderer(colors=False))
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=SHARED_PROCESSORS,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            scrub_secrets,
            renderer,
        ],
    )


def logging_settings(log_format: str, level: str) -> dict:
    """Django's LOGGING for the chosen format; configures structlog to hand its events to the same handler."""
    log_format = "json" if log_format.strip().lower() == "json" else "console"
    structlog.configure(
        processors=[*SHARED_PROCESSORS[:2], structlog.stdlib.add_logger_name,
                    structlog.processors.TimeStamper(fmt="iso", utc=True),
                    structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"console": {"()": formatter, "log_format": log_format}},
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "console", "stream": sys.stderr}},
        "root": {"handlers": ["console"], "level": level},
        "filters": {"rq_job_lines": {"()": RqJobLines}},
        "loggers": {"django.db.backends": {"level": "WARNING"},
                    # The request line below replaces Django's and uvicorn's own access lines.
                    "uvicorn.access": {"level": "WARNING"},
                    # The `job` line (CorrelatedJob) replaces RQ's three lines per job.
                    "rq.worker": {"filters": ["rq_job_lines"]}},
    }


class RqJobLines(logging.Filter):
    """Drops the INFO lines RQ's worker writes for every job (taken, OK, result kept): the console's `job` line
    says the same with the correlation id and the duration, and rendering three more lines per job cost the worker
    about 0.5 ms of CPU each time (bench/processing.py). Every other RQ line (start, stop, warnings) passes."""

    PER_JOB = frozenset({
        "Worker %s: %s: %s",  # taken from the queue
        "Worker %s: %s: %s (%s)",  # Job OK
        "Worker %s: job %s result is kept for %s seconds",
        "Worker %s: job %s result discarded immediately",
        "Worker %s: job %s result will never expire, clean up result key manually",
    })

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.levelno == logging.INFO and record.msg in self.PER_JOB)


# --- requests ----------------------------------------------------------------------------------------------------


def loggable_path(path: str) -> str:
    return HOOK_PATH.sub(r"\1…", path)


# Fields a request's own line carries besides its own (the webhook delivery it stored): set while a request runs.
_request_line: ContextVar[dict | None] = ContextVar("request_line", default=None)


class RequestLogMiddleware:
    """One line per request (method, path without query string, status, duration, user), with its correlation id,
    and with what it stored when it stored a webhook delivery (see log_webhook_stored)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        offered = request.headers.get(CORRELATION_HEADER, "")
        correlation_id = offered if VALID_CORRELATION_ID.match(offered) else uuid.uuid4().hex
        clear_contextvars()
        bind_contextvars(correlation_id=correlation_id)
        extra = {}
        token = _request_line.set(extra)
        started = time.monotonic()
        try:
            response = self.get_response(request)
            user = getattr(request, "user", None)
            logger.info("request", method=request.method, path=loggable_path(request.path),
                        status=response.status_code, duration_ms=int((time.monotonic() - started) * 1000),
                        user_id=user.pk if user is not None and user.is_authenticated else None, **extra)
            response[CORRELATION_HEADER] = correlation_id
            return response
        finally:
            _request_line.reset(token)
            clear_contextvars()


# --- jobs --------------------------------------------------------------------------------------------------------


class CorrelatedJob(Job):
    """RQ job carrying the correlation id of whatever enqueued it, and logging one line when it ends."""

    @classmethod
    def create(cls, *args, **kwargs):
        correlation_id = get_contextvars().get("correlation_id")
        if correlation_id:
            kwargs["meta"] = {**(kwargs.get("meta") or {}), "correlation_id": correlation_id}
        return super().create(*args, **kwargs)

    def perform(self):
        correlation_id = self.meta.get("correlation_id") or self.id
        with bound_contextvars(correlation_id=correlation_id, job_id=self.id):
            started = time.monotonic()
            try:
                result = super().perform()
            except Exception as exc:
                logger.warning("job", func=self.func_name, queue=self.origin, status="failed",
                               duration_ms=int((time.monotonic() - started) * 1000), error=type(exc).__name__)
                raise
            logger.info("job", func=self.func_name, queue=self.origin, status="succeeded",
                        duration_ms=int((time.monotonic() - started) * 1000))
            return result


# --- rows the kernel writes: deliveries, action runs, vendor calls ----------------------------------------------


def log_webhook_stored(sender, instance, created, **kwargs) -> None:
    """A stored delivery: its id, system, type and status. Received through the inbox, they go on the request's
    own line (one line per delivery: a second one cost the inbox about a tenth of its CPU, bench/ingest.py);
    stored anywhere else (a command, a test, a second row in one request), on a `webhook_stored` line."""
    if not created:
        return
    fields = {"webhook_event_id": instance.pk, "provider": instance.provider, "event_type": instance.event_type,
              "webhook_status": instance.status}
    request_line = _request_line.get()
    if request_line is not None and "webhook_event_id" not in request_line:
        request_line.update(fields)
    else:
        logger.info("webhook_stored", **fields)


def log_action_run(sender, instance, created, **kwargs) -> None:
    logger.info("action_run", action_run_id=instance.pk, action=instance.action, status=instance.status,
                created=created)


def log_vendor_call(sender, instance, created, **kwargs) -> None:
    if created:
        logger.info("vendor_call", connection_id=instance.connection_id, method=instance.method, url=instance.url,
                    status=instance.status_code, duration_ms=instance.duration_ms, attempt=instance.attempt,
                    request_id=instance.request_id, error=instance.error or None)
