"""Settings for the Hypervisual Console, read from the environment (django-environ).

With no DATABASE_URL / REDIS_URL the console runs on the embedded default: SQLite in var/
and a Redis started by the launcher (see apps/core/embedded_redis.py).
"""

import os
import sys
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import environ

from apps.operations.logs import logging_settings
from config.environment import DEFAULT_SECRET_KEY, production_refusals

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

TESTING = "pytest" in sys.modules
if TESTING:
    # pytest-django reads settings before any conftest runs, so the test session's defaults live here:
    # a developer machine (DEBUG on, sandboxes mounted; pytest-django still runs tests with DEBUG False)
    # and, without REDIS_URL, a private Redis for the session. Child processes inherit both.
    os.environ.setdefault("DEBUG", "1")
    os.environ.setdefault("SANDBOX", "1")
    if not os.environ.get("REDIS_URL"):
        from apps.core.embedded_redis import start_for_this_process

        os.environ["REDIS_URL"] = start_for_this_process()

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env.str("SECRET_KEY", default=DEFAULT_SECRET_KEY)
FIELD_ENCRYPTION_KEYS = env.list("FIELD_ENCRYPTION_KEYS", default=[])
SANDBOX = env.bool("SANDBOX", default=False)
PUBLIC_BASE_URL = env.str("PUBLIC_BASE_URL", default="http://127.0.0.1:8000").rstrip("/")
# Where the sandboxes answer for the demo connections: the console's own server (runconsole serves both;
# a view calling an emulator in its own process does not wait on itself, bench/asgi_sync_views.py).
SANDBOX_BASE_URL = env.str("SANDBOX_BASE_URL", default=PUBLIC_BASE_URL).rstrip("/")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])

_refusals = production_refusals(
    debug=DEBUG,
    secret_key=SECRET_KEY,
    field_encryption_keys=FIELD_ENCRYPTION_KEYS,
    sandbox=SANDBOX,
)
if _refusals:
    # One line per refused variable, no traceback: SystemExit with a message prints it and exits 1.
    raise SystemExit("\n".join(_refusals))

if DEBUG and not FIELD_ENCRYPTION_KEYS:
    # A stable development key so a laptop database stays readable between runs. Never used with DEBUG off.
    FIELD_ENCRYPTION_KEYS = ["ZGV2LWZpZWxkLWVuY3J5cHRpb24ta2V5LTMyYnl0ZXM="]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "django_rq",
    "channels",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "axes",
    "import_export",  # "Exporter en CSV" on the admin lists (apps.core.admin.exports)
    "simple_history",  # who changed what on the hub records, shown on each record's timeline
    "apps.core",
    "apps.hub",
    "apps.invoiceninja",
    "apps.revolut",
    "apps.erpnext",
    "apps.mautic",
    "apps.docuseal",
    "apps.directus",
    "apps.automations",
    "apps.operations",
]

MIDDLEWARE = [
    "apps.operations.middleware.ResponseCounterMiddleware",  # first: counts every answer, 5xx included
    "apps.operations.logs.RequestLogMiddleware",  # one log line per request, with its correlation id
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "apps.core.locale.ChosenLanguageMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",  # a record's history names the user who saved it
    "django_otp.middleware.OTPMiddleware",
    "apps.core.second_factor.SecondFactorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "apps.core.error_pages.ConsoleNotFoundMiddleware",
    "axes.middleware.AxesMiddleware",  # last, as django-axes requires
]

ROOT_URLCONF = "config.urls"
LOGIN_URL = "admin:login"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.csp",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
            ],
        },
    },
]

ASGI_APPLICATION = "config.asgi.application"
WSGI_APPLICATION = "config.wsgi.application"

VAR_DIR.mkdir(exist_ok=True)
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'console.sqlite3'}"),
}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=0)
# A pool of PostgreSQL connections per process, which the ASGI server turns on (config/asgi.py) and nothing
# else does. Under ASGI each request runs its synchronous code on a thread of its own, and Django's
# connections belong to a thread: CONN_MAX_AGE keeps nothing (every request still connects, and the kept
# connection dies with its thread), a pool hands the next request the same connection. The RQ worker forks a
# child per job, and a pool must never cross a fork, so workers and commands keep one connection each.
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and env.bool("DATABASE_POOL", default=False):
    DATABASES["default"]["CONN_MAX_AGE"] = 0  # Django refuses persistent connections alongside a pool
    # Each checkout checks its connection (an empty query): after a PostgreSQL restart the pooled connections
    # are dead, and without the check each would fail one request before being replaced.
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = env.bool("CONN_HEALTH_CHECKS", default=True)
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": env.int("DATABASE_POOL_MIN_SIZE", default=2),
        "max_size": env.int("DATABASE_POOL_MAX_SIZE", default=10),
        "timeout": env.int("DATABASE_POOL_TIMEOUT", default=20),  # a request waits this long for a free one
    }
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web, worker and scheduler share one file: wait for locks instead of failing, and use WAL.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"}
    )
    # Tests on a file too: an in-memory test database shares one cache between threads, where a busy writer
    # fails at once ("database table is locked") instead of waiting like on the real file.
    DATABASES["default"].setdefault("TEST", {}).setdefault("NAME", str(VAR_DIR / "test_console.sqlite3"))
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Redis serves RQ and the Channels layer. The embedded launcher exports REDIS_URL for its children.
REDIS_URL = env.str("REDIS_URL", default="redis://127.0.0.1:6379/0")

# /metrics (apps/operations/metrics_view.py): a bearer token and/or allowed addresses; neither set: 404.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
METRICS_ALLOWED_IPS = env.list("METRICS_ALLOWED_IPS", default=[])

# Errors of web requests and jobs go to Sentry when a DSN is set, scrubbed (apps/operations/sentry.py).
SENTRY_DSN = env.str("SENTRY_DSN", default="")
SENTRY_ENVIRONMENT = env.str("SENTRY_ENVIRONMENT", default="production")

RQ_QUEUES = {
    name: {"URL": REDIS_URL, "DEFAULT_TIMEOUT": 600}
    for name in ("default", "webhooks", "sync")
}
# `rqworker` runs the console's worker: it waits for Redis instead of quitting and heartbeats every few seconds.
# Jobs carry the correlation id of what enqueued them (apps/operations/logs.py).
RQ = {"WORKER_CLASS": "apps.core.worker.ConsoleWorker", "JOB_CLASS": "apps.operations.logs.CorrelatedJob"}
# Each socket's receive loop blocks in BZPOPMIN for 5 s (channels-redis' brpop_timeout) on a connection whose read
# timeout redis-py 8 sets to 5 s by default (redis._defaults.DEFAULT_SOCKET_TIMEOUT): the server's "nothing came"
# reply races the client's timeout and, when it loses, the socket dies with redis.exceptions.TimeoutError. The
# read timeout must outlast the blocking pop; it still catches a dead Redis, 15 s later instead of 5.
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [{"address": REDIS_URL, "socket_timeout": 15, "socket_connect_timeout": 5}]},
    }
}
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "console",
    }
}

# Login security (README "Sécurité de la connexion"): django-axes throttles failed logins per username and
# address (apps/core/login_security.py); django-otp's TOTP is the second factor of whoever moves money
# (apps/core/second_factor.py).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "apps.core.login_security.lockout_response"
OTP_TOTP_ISSUER = "Hypervisual Console"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "fr"
LANGUAGES = [("fr", "Français"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Europe/Paris"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Private files (signed documents): no MEDIA_URL is served; views stream them after a permission check.
MEDIA_ROOT = env.str("MEDIA_ROOT", default=str(VAR_DIR / "media"))

# Hooks must never be redirected (DocuSeal counts a 3xx as delivered, Invoice Ninja turns a redirected POST
# into a GET): hook routes match with or without the trailing slash and opt out of APPEND_SLASH.
APPEND_SLASH = True
DATA_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
WEBHOOK_MAX_BODY_BYTES = 1024 * 1024
WEBHOOK_REJECTED_MAX_PER_HOUR = env.int("WEBHOOK_REJECTED_MAX_PER_HOUR", default=100)
WEBHOOK_RETENTION_DAYS = env.int("WEBHOOK_RETENTION_DAYS", default=30)
WEBHOOK_FAILED_RETENTION_DAYS = env.int("WEBHOOK_FAILED_RETENTION_DAYS", default=180)
# Recovery (apps.core.webhooks.maintenance, apps.core.actions): an event waiting this long without a live job is
# enqueued again; a click that could not start within this many minutes fails instead of acting late.
WEBHOOK_SWEEP_AFTER_SECONDS = env.int("WEBHOOK_SWEEP_AFTER_SECONDS", default=5)
ACTION_RUN_START_DEADLINE_MINUTES = env.int("ACTION_RUN_START_DEADLINE_MINUTES", default=60)

HTTP_CONNECT_TIMEOUT = env.float("HTTP_CONNECT_TIMEOUT", default=5.0)
HTTP_READ_TIMEOUT = env.float("HTTP_READ_TIMEOUT", default=30.0)
HTTP_MAX_RETRIES = env.int("HTTP_MAX_RETRIES", default=3)
HTTP_BACKOFF_CAP_SECONDS = env.float("HTTP_BACKOFF_CAP_SECONDS", default=30.0)

# A supplier payment above this amount, in the reference currency, needs a second approver; other currencies
# are converted with the rates admins keep in the hub (apps.hub.approval_rule).
PAYMENT_APPROVAL_THRESHOLD = Decimal(env.str("PAYMENT_APPROVAL_THRESHOLD", default="1000.00"))
REFERENCE_CURRENCY = env.str("REFERENCE_CURRENCY", default="EUR")

# Content Security Policy (Django's built-in): scripts only from self or with the per-request nonce.
from django.utils.csp import CSP  # noqa: E402

SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF, CSP.NONCE],
    "img-src": [CSP.SELF, "data:"],
    "connect-src": [CSP.SELF, "ws:", "wss:"] if DEBUG else [CSP.SELF, "wss:"],
    "frame-ancestors": [CSP.NONE],
    "form-action": [CSP.SELF],
    "base-uri": [CSP.SELF],
    "object-src": [CSP.NONE],
}

# Functions holding secrets are marked sensitive_variables; their locals stay hidden even on DEBUG pages.
DEFAULT_EXCEPTION_REPORTER_FILTER = "apps.core.error_reports.AlwaysSafeExceptionReporterFilter"

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SECURE_HSTS_SECONDS = 0 if DEBUG else env.int("SECURE_HSTS_SECONDS", default=31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^hooks/", r"^healthz$", r"^readyz$"]
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[PUBLIC_BASE_URL])

# Structured logs (apps/operations/logs.py): LOG_FORMAT=json in production, readable lines by default.
LOGGING = logging_settings(env.str("LOG_FORMAT", default="console"), env.str("LOG_LEVEL", default="INFO"))

