"""The security suite every webhook scheme inherits (kernel test doubles and each system app).

Write a test class that inherits `WebhookSecuritySuite` and provides:

    provider_key = "docuseal"                       # the /hooks/<provider_key>/ segment, a registered Provider
    signature_headers = ("X-Docuseal-Signature",)   # removed all together by the missing-header test
    has_timestamp = True                            # adds the stale- and future-timestamp tests

    def make_connection(self, webhook_secrets: list[str]) -> Connection: ...
    def signed_delivery(self, secret: str, *, timestamp: float | None = None,
                        body: bytes | None = None) -> tuple[bytes, dict[str, str]]:
        # A valid JSON body (a new event id on every call) and its headers, signed with `secret`;
        # `timestamp` (Unix seconds) is only passed when has_timestamp is True. The event type should be
        # one the provider handles or not, either is fine. With `body`, sign exactly those bytes instead
        # (the hostile-input tests alter a valid body, then have it signed).
    def now(self) -> float: ...                     # only with has_timestamp: "now" as the verifier sees it

Optional: `tampered_delivery(secret)` (default: a signed delivery whose JSON body is then altered — override
it for schemes that do not sign the body, e.g. a shared secret header), `webhook_path(connection, body)`
(default: connection.webhook_path()), and a `register_provider`/`unregister_provider` pair for test doubles.
"""

from __future__ import annotations

import json

import pytest
from django.test import Client
from django.urls import reverse

from apps.core.models import WebhookEvent
from apps.core.webhooks.processing import process_event
from apps.core.webhooks.redaction import MASK, is_sensitive

STALE_BY_SECONDS = 3600
# Deeper than any JSON parser's recursion limit, still far under the body size limit.
DEEP_NESTING = 100_000
# Keys naming the event type keep their value, so the altered delivery still reaches its handler.
EVENT_TYPE_KEYS = ("type", "event", "event_type")


def deeply_nested(body: bytes) -> bytes:
    """The body with one more key holding a JSON array nested DEEP_NESTING levels deep."""
    return body.rstrip()[:-1] + b', "deep": ' + b"[" * DEEP_NESTING + b"]" * DEEP_NESTING + b"}"


def with_every_string_suffixed(body: bytes, suffix: str) -> bytes:
    """The body re-serialised with `suffix` appended to every string value (JSON escapes keep it ASCII)."""
    def alter(value, key=None):
        if isinstance(value, dict):
            return {name: alter(item, name) for name, item in value.items()}
        if isinstance(value, list):
            return [alter(item) for item in value]
        if isinstance(value, str) and key not in EVENT_TYPE_KEYS:
            return value + suffix
        return value
    return json.dumps(alter(json.loads(body))).encode()


def text_columns(event: WebhookEvent) -> list[str]:
    return [event.event_type, event.provider_event_id, event.last_error, event.traceback,
            event.remote_addr or "", json.dumps(event.headers, ensure_ascii=False)]


def refused_by_postgresql_or_utf8(text: str) -> bool:
    """PostgreSQL text refuses NUL; UTF-8 cannot encode a lone surrogate (neither database stores it)."""
    return "\x00" in text or any(0xD800 <= ord(char) <= 0xDFFF for char in text)


@pytest.mark.django_db
class WebhookSecuritySuite:
    provider_key: str
    signature_headers: tuple[str, ...]
    has_timestamp: bool = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if not cls.has_timestamp:
            # Not collected at all rather than skipped: the scheme has no timestamp to be stale.
            cls.test_stale_timestamp_is_refused = None
            cls.test_future_timestamp_is_refused = None
            cls.test_a_timestamp_of_thousands_of_digits_is_refused = None

    # --- what a subclass provides -------------------------------------------------------------------------

    def make_connection(self, webhook_secrets):
        raise NotImplementedError

    def signed_delivery(self, secret, *, timestamp=None):
        raise NotImplementedError

    def now(self) -> float:
        raise NotImplementedError

    def tampered_delivery(self, secret):
        body, headers = self.signed_delivery(secret)
        payload = json.loads(body)
        payload["tampered"] = True
        return json.dumps(payload).encode(), headers

    def webhook_path(self, connection, body):
        return connection.webhook_path()

    def register_provider(self):
        pass

    def unregister_provider(self):
        pass

    # --- plumbing -----------------------------------------------------------------------------------------

    @pytest.fixture(autouse=True)
    def _provider(self, redis_connection):
        self.register_provider()
        yield
        self.unregister_provider()

    def deliver(self, connection, body, headers, *, client=None, path=None, **environ):
        client = client or Client()
        return client.post(path or self.webhook_path(connection, body), data=body,
                           content_type="application/json", headers=headers, **environ)

    def assert_admin_renders(self, admin_client, event):
        response = admin_client.get(reverse("admin:core_webhookevent_change", args=[event.pk]))
        assert response.status_code == 200
        response.content.decode("utf-8")

    def assert_stored_and_processed_safely(self, admin_client, connection, response):
        assert response.status_code == 200, response.content
        event = WebhookEvent.objects.get(pk=response.json()["id"])
        assert event.connection == connection
        assert event.status != WebhookEvent.Status.REJECTED
        # Processing ends in a settled state at once, without raising: retrying would not change the payload.
        process_event(event.pk)
        event.refresh_from_db()
        assert event.status in (WebhookEvent.Status.PROCESSED, WebhookEvent.Status.IGNORED,
                                WebhookEvent.Status.FAILED)
        if event.status == WebhookEvent.Status.FAILED:
            assert event.last_error and event.attempts == 1
        assert not any(refused_by_postgresql_or_utf8(text) for text in text_columns(event))
        self.assert_admin_renders(admin_client, event)

    # --- the suite ----------------------------------------------------------------------------------------

    def test_valid_delivery_is_stored_byte_for_byte_and_acknowledged(self):
        connection = self.make_connection(["secret-one-0123456789"])
        body, headers = self.signed_delivery("secret-one-0123456789")
        response = self.deliver(connection, body, headers)
        assert response.status_code == 200, response.content
        event = WebhookEvent.objects.get(connection=connection)
        assert bytes(event.body) == body
        assert event.status != WebhookEvent.Status.REJECTED
        assert "secret-one-0123456789" not in json.dumps(event.headers)
        for name in self.signature_headers:
            if is_sensitive(name):
                assert event.headers[name] == MASK

    def test_tampered_delivery_is_refused_stored_as_rejected_and_never_processed(self):
        connection = self.make_connection(["secret-one-0123456789"])
        body, headers = self.tampered_delivery("secret-one-0123456789")
        response = self.deliver(connection, body, headers)
        assert response.status_code == 401
        event = WebhookEvent.objects.get(connection=connection)
        assert event.status == WebhookEvent.Status.REJECTED
        assert bytes(event.body) == body
        assert process_event(event.pk) == "skipped"
        event.refresh_from_db()
        assert (event.status, event.attempts) == (WebhookEvent.Status.REJECTED, 0)

    def test_delivery_signed_with_an_unknown_secret_is_refused(self):
        connection = self.make_connection(["secret-one-0123456789"])
        body, headers = self.signed_delivery("not-the-secret-987654")
        assert self.deliver(connection, body, headers).status_code == 401
        assert WebhookEvent.objects.get(connection=connection).status == WebhookEvent.Status.REJECTED

    def test_missing_signature_header_is_a_400_counted_as_rejected_without_its_body(self):
        connection = self.make_connection(["secret-one-0123456789"])
        body, headers = self.signed_delivery("secret-one-0123456789")
        lowered = {name.lower() for name in self.signature_headers}
        headers = {name: value for name, value in headers.items() if name.lower() not in lowered}
        assert self.deliver(connection, body, headers).status_code == 400
        event = WebhookEvent.objects.get(connection=connection)  # a trace the webhook log and the card count
        assert event.status == WebhookEvent.Status.REJECTED
        assert event.last_error.startswith("En-tête de signature absent")
        assert bytes(event.body) == b""  # an unsigned body is nobody's: not kept
        assert process_event(event.pk) == "skipped"

    def test_stale_timestamp_is_refused(self):
        connection = self.make_connection(["secret-one-0123456789"])
        body, headers = self.signed_delivery("secret-one-0123456789", timestamp=self.now() - STALE_BY_SECONDS)
        assert self.deliver(connection, body, headers).status_code == 401
        assert WebhookEvent.objects.get(connection=connection).status == WebhookEvent.Status.REJECTED

    def test_future_timestamp_is_refused(self):
        connection = self.make_connection(["secret-one-0123456789"])
        body, headers = self.signed_delivery("secret-one-0123456789", timestamp=self.now() + STALE_BY_SECONDS)
        assert self.deliver(connection, body, headers).status_code == 401

    def test_rotation_old_and_new_secret_both_pass_until_the_old_is_removed(self):
        connection = self.make_connection(["old-secret-0123456789", "new-secret-0123456789"])
        for secret in ("old-secret-0123456789", "new-secret-0123456789"):
            body, headers = self.signed_delivery(secret)
            assert self.deliver(connection, body, headers).status_code == 200
        connection.webhook_secrets = ["new-secret-0123456789"]
        connection.save()
        body, headers = self.signed_delivery("old-secret-0123456789")
        assert self.deliver(connection, body, headers).status_code == 401
        body, headers = self.signed_delivery("new-secret-0123456789")
        assert self.deliver(connection, body, headers).status_code == 200

    def test_csrf_enforcing_client_is_not_blocked(self):
        connection = self.make_connection(["secret-one-0123456789"])
        body, headers = self.signed_delivery("secret-one-0123456789")
        response = self.deliver(connection, body, headers, client=Client(enforce_csrf_checks=True))
        assert response.status_code == 200

    def test_login_required_middleware_does_not_block_hooks(self):
        connection = self.make_connection(["secret-one-0123456789"])
        body, headers = self.signed_delivery("secret-one-0123456789")
        anonymous = Client()
        response = self.deliver(connection, body, headers, client=anonymous)
        assert response.status_code == 200
        probe = anonymous.get(self.webhook_path(connection, body))
        assert probe.status_code == 200
        assert "Location" not in probe.headers

    def test_no_redirect_with_or_without_trailing_slash(self):
        connection = self.make_connection(["secret-one-0123456789"])
        for strip_slash in (False, True):
            body, headers = self.signed_delivery("secret-one-0123456789")
            path = self.webhook_path(connection, body)
            path = path.rstrip("/") if strip_slash else path.rstrip("/") + "/"
            response = self.deliver(connection, body, headers, path=path)
            assert response.status_code == 200, (path, response.status_code)
        assert WebhookEvent.objects.filter(connection=connection).count() == 2

    # --- hostile input: never a 5xx, signed or not ----------------------------------------------------------

    def test_deeply_nested_signed_json_is_a_readable_400_stored_as_rejected(self, admin_client):
        connection = self.make_connection(["secret-one-0123456789"])
        valid, _ = self.signed_delivery("secret-one-0123456789")
        body, headers = self.signed_delivery("secret-one-0123456789", body=deeply_nested(valid))
        response = self.deliver(connection, body, headers)
        assert response.status_code == 400
        assert response.json()["detail"] == "JSON invalide."
        event = WebhookEvent.objects.get(connection=connection)
        assert event.status == WebhookEvent.Status.REJECTED
        self.assert_admin_renders(admin_client, event)

    def test_deeply_nested_unsigned_json_is_rejected_and_its_admin_page_renders(self, admin_client):
        connection = self.make_connection(["secret-one-0123456789"])
        valid, headers = self.tampered_delivery("secret-one-0123456789")
        response = self.deliver(connection, deeply_nested(valid), headers)
        assert response.status_code == 401
        event = WebhookEvent.objects.get(connection=connection)
        assert event.status == WebhookEvent.Status.REJECTED
        self.assert_admin_renders(admin_client, event)

    def test_nul_characters_in_a_signed_body_are_stored_and_processed_safely(self, admin_client):
        connection = self.make_connection(["secret-one-0123456789"])
        valid, _ = self.signed_delivery("secret-one-0123456789")
        altered = with_every_string_suffixed(valid, "\x00")
        body, headers = self.signed_delivery("secret-one-0123456789", body=altered)
        assert b"\\u0000" in body
        self.assert_stored_and_processed_safely(admin_client, connection, self.deliver(connection, body, headers))

    def test_lone_surrogates_in_a_signed_body_are_stored_and_processed_safely(self, admin_client):
        connection = self.make_connection(["secret-one-0123456789"])
        valid, _ = self.signed_delivery("secret-one-0123456789")
        altered = with_every_string_suffixed(valid, "\ud800")
        body, headers = self.signed_delivery("secret-one-0123456789", body=altered)
        assert b"\\ud800" in body
        self.assert_stored_and_processed_safely(admin_client, connection, self.deliver(connection, body, headers))

    def test_a_timestamp_of_thousands_of_digits_is_refused(self):
        connection = self.make_connection(["secret-one-0123456789"])
        body, headers = self.signed_delivery("secret-one-0123456789", timestamp=10 ** 3990)
        assert self.deliver(connection, body, headers).status_code == 401

    @pytest.mark.parametrize("forwarded_client", ["unknown", "not-an-ip", "1.2.3.999"])
    def test_a_client_address_that_is_not_an_ip_never_loses_a_valid_delivery(self, forwarded_client):
        # Behind a trusted proxy, uvicorn's --proxy-headers copies X-Forwarded-For into the client address
        # as is: "unknown" and other non-addresses arrive in REMOTE_ADDR.
        connection = self.make_connection(["secret-one-0123456789"])
        body, headers = self.signed_delivery("secret-one-0123456789")
        response = self.deliver(connection, body, headers, REMOTE_ADDR=forwarded_client)
        assert response.status_code == 200, response.content
        event = WebhookEvent.objects.get(connection=connection)
        assert event.status != WebhookEvent.Status.REJECTED
        assert event.remote_addr is None
