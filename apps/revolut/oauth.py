"""Revolut Business OAuth: the key pair and certificate, the consent URL, the RS256 client assertion,
the code exchange and the single-flight token refresh (NOTES §2).

Access tokens live 40 minutes and a refresh invalidates the previous access token at once, so only one
process may refresh a connection at a time: a Redis lock, then a re-read of the connection (another
worker may have refreshed while we waited — then its token is reused). The refresh token is kept when
the answer carries none. `invalid_grant` turns the connection to "reconnexion requise" and every later
call stops before reaching Revolut, so there is no retry storm.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode, urlsplit

import jwt
import redis
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_variables

from apps.core.http import ApiClient, AuthenticationError, ClientError
from apps.core.models import Connection
from apps.revolut.rate_limit import RequestBudget

logger = logging.getLogger(__name__)

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
AUDIENCE = "https://revolut.com"
ASSERTION_LIFETIME = timedelta(minutes=5)
# Refresh this long before expiry so a call never goes out with a token about to die in flight.
REFRESH_MARGIN = timedelta(minutes=5)
CODE_VALIDITY = timedelta(minutes=2)
LOCK_TIMEOUT_SECONDS = 30


class ReconnectRequired(AuthenticationError):
    """The refresh token was refused: a person must consent again."""


# Keys and certificate ---------------------------------------------------------------------------------
def generate_private_key_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


@sensitive_variables()
def load_private_key(pem: str):
    try:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError):
        raise ValidationError(_("Clé privée illisible : attendu une clé RSA au format PEM, sans mot de passe.")) from None
    if not isinstance(key, rsa.RSAPrivateKey) or key.key_size < 2048:
        raise ValidationError(_("Clé privée refusée : RSA de 2048 bits au moins attendue."))
    return key


def self_signed_certificate_pem(private_key_pem: str, common_name: str, *, days: int = 1825) -> str:
    """The X.509 certificate to upload in Revolut's Business API settings (a bare public key is refused)."""
    key = load_private_key(private_key_pem)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64] or "hypervisual-console")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=days))
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


def certificate_fingerprint(certificate_pem: str) -> str:
    certificate = x509.load_pem_x509_certificate(certificate_pem.encode())
    digest = certificate.fingerprint(hashes.SHA256()).hex().upper()
    return ":".join(digest[i:i + 2] for i in range(0, len(digest), 2))


@sensitive_variables()
def install_key(connection: Connection, private_key_pem: str) -> None:
    """Store a (generated or uploaded) private key encrypted, and the certificate derived from it."""
    load_private_key(private_key_pem)
    connection.secrets = {**connection.secrets, "private_key_pem": private_key_pem}
    connection.config = {
        **connection.config,
        "certificate_pem": self_signed_certificate_pem(private_key_pem, redirect_host()),
    }
    if connection.token_status == Connection.TokenStatus.NOT_APPLICABLE:
        connection.token_status = Connection.TokenStatus.MISSING
    connection.save(update_fields=["secrets", "config", "token_status", "updated_at"])


# URLs ---------------------------------------------------------------------------------------------------
def redirect_uri() -> str:
    return settings.PUBLIC_BASE_URL + reverse("revolut:oauth_callback")


def redirect_host() -> str:
    """The JWT `iss`: the redirect URI's domain, host only, no scheme (NOTES §2.2)."""
    return urlsplit(redirect_uri()).hostname or ""


def api_root(connection: Connection) -> str:
    """The host part before /api/1.0 — a connection may be saved with or without the /api/x.y suffix."""
    base = connection.base_url.rstrip("/")
    for suffix in ("/api/1.0", "/api/2.0"):
        if base.endswith(suffix):
            return base[: -len(suffix)]
    return base


def consent_page(connection: Connection) -> str:
    if connection.config.get("consent_url"):
        return connection.config["consent_url"]
    host = urlsplit(api_root(connection)).hostname
    if host == "b2b.revolut.com":
        return "https://business.revolut.com/app-confirm"
    if host == "sandbox-b2b.revolut.com":
        return "https://sandbox-business.revolut.com/app-confirm"
    return api_root(connection) + "/app-confirm"  # our emulator serves it beside its API


def consent_url(connection: Connection, state: str) -> str:
    query = {
        "client_id": connection.config.get("client_id", ""),
        "redirect_uri": redirect_uri(),
        "response_type": "code",
        "state": state,
    }
    return f"{consent_page(connection)}?{urlencode(query)}"


# Token endpoint -------------------------------------------------------------------------------------------
@sensitive_variables()
def client_assertion(connection: Connection) -> str:
    """A fresh RS256 JWT per token request: iss = redirect host, sub = ClientID, aud, numeric exp."""
    private_key_pem = connection.secret("private_key_pem")
    client_id = connection.config.get("client_id")
    if not private_key_pem or not client_id:
        raise ReconnectRequired(_("Clé privée ou ClientID manquant : terminez la configuration de Revolut."))
    claims = {
        "iss": redirect_host(),
        "sub": client_id,
        "aud": AUDIENCE,
        "exp": int(time.time() + ASSERTION_LIFETIME.total_seconds()),
    }
    return jwt.encode(claims, private_key_pem, algorithm="RS256", headers={"typ": "JWT"})


class TokenEndpoint(ApiClient):
    """POST /auth/token, form-encoded. Counts against the same per-business request budget."""

    def __init__(self, connection: Connection):
        super().__init__(connection, base_url=api_root(connection) + "/api/1.0")

    def before_request(self) -> None:
        RequestBudget(str(self.connection.pk)).acquire()

    def request_token(self, fields: dict) -> dict:
        data = {**fields, "client_assertion_type": ASSERTION_TYPE, "client_assertion": client_assertion(self.connection)}
        return self.post("auth/token", data=data).json()


def exchange_code(connection: Connection, code: str) -> None:
    payload = TokenEndpoint(connection).request_token({"grant_type": "authorization_code", "code": code})
    _store_tokens(connection, payload, keep_refresh_token="")
    Connection.objects.filter(pk=connection.pk).update(
        config={**connection.config, "consented_at": timezone.now().isoformat()}
    )
    connection.refresh_from_db(fields=["config"])


@sensitive_variables()
def _store_tokens(connection: Connection, payload: dict, *, keep_refresh_token: str) -> None:
    access_token = payload.get("access_token")
    refresh_token = payload.get("refresh_token") or keep_refresh_token
    if not access_token or not refresh_token:
        raise ClientError(_("Réponse de Revolut incomplète : jeton manquant."))
    connection.oauth_token = {
        "access_token": access_token,
        "refresh_token": refresh_token,
        "token_type": payload.get("token_type", "bearer"),
    }
    connection.token_expires_at = timezone.now() + timedelta(seconds=int(payload.get("expires_in", 2399)))
    connection.token_status = Connection.TokenStatus.OK
    connection.save(update_fields=["oauth_token", "token_expires_at", "token_status", "updated_at"])


# Single-flight refresh -------------------------------------------------------------------------------------
def needs_refresh(connection: Connection) -> bool:
    expires_at = connection.token_expires_at
    return expires_at is None or expires_at - REFRESH_MARGIN <= timezone.now()


def _lock(connection: Connection):
    client = redis.Redis.from_url(settings.REDIS_URL)
    return client.lock(f"revolut:token-refresh:{connection.pk}", timeout=LOCK_TIMEOUT_SECONDS,
                       blocking_timeout=LOCK_TIMEOUT_SECONDS)


def ensure_fresh_token(connection: Connection, *, rejected_token: str | None = None) -> None:
    """Make `connection.oauth_token` usable. `rejected_token`: the access token Revolut just refused (401)."""
    if connection.token_status == Connection.TokenStatus.RECONNECT_REQUIRED:
        raise ReconnectRequired(_("Reconnexion à Revolut requise."))
    if rejected_token is None and not needs_refresh(connection):
        return
    with _lock(connection):
        # Another worker may have refreshed while we waited for the lock: read what is stored now.
        connection.refresh_from_db(fields=["oauth_token", "token_expires_at", "token_status"])
        if connection.token_status == Connection.TokenStatus.RECONNECT_REQUIRED:
            raise ReconnectRequired(_("Reconnexion à Revolut requise."))
        current = connection.oauth_token.get("access_token")
        if rejected_token is not None and current and current != rejected_token:
            return
        if rejected_token is None and not needs_refresh(connection):
            return
        refresh_token = connection.oauth_token.get("refresh_token")
        if not refresh_token:
            _mark_reconnect_required(connection, _("Aucun jeton de rafraîchissement : connectez Revolut."))
        try:
            payload = TokenEndpoint(connection).request_token(
                {"grant_type": "refresh_token", "refresh_token": refresh_token}
            )
        except ClientError as exc:
            if exc.status in (400, 401) and isinstance(exc.payload, dict) and exc.payload.get("error") in (
                "invalid_grant", "unauthorized_client"
            ):
                _mark_reconnect_required(connection, _("Revolut a refusé le jeton de rafraîchissement (%(error)s).")
                                         % {"error": exc.payload.get("error")})
            raise
        with transaction.atomic():
            _store_tokens(connection, payload, keep_refresh_token=refresh_token)
        logger.info("Jeton Revolut renouvelé pour la connexion %s", connection.pk)


def _mark_reconnect_required(connection: Connection, message: str):
    Connection.objects.filter(pk=connection.pk).update(
        token_status=Connection.TokenStatus.RECONNECT_REQUIRED, last_error=message[:500],
        last_error_at=timezone.now(),
    )
    connection.token_status = Connection.TokenStatus.RECONNECT_REQUIRED
    connection.last_error = message
    raise ReconnectRequired(message)
