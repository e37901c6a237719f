"""Secrets never reach an error page: DEBUG's technical 500 hides the locals of functions holding secrets;
a secret no key decrypts is one French line naming the connection and the remedy."""

import sys

import pytest
from cryptography.fernet import Fernet
from django.test import Client, RequestFactory
from django.views.debug import technical_500_response

from apps.core import encryption
from apps.core.webhooks.checks import check_unreadable_secrets
from apps.core.webhooks.verifiers import Base64BodyHmac, TimestampedHexHmac
from tests.core.webhook_doubles import Base64BodyScheme, registered_hook

SECRET = "-".join(["whsec", "very", "secret", "0123456789"])  # not in the source the page quotes


class ExplodingHeaders(dict):
    """Headers whose lookup fails: an exception raised while the verifier holds the secrets."""

    def get(self, name, default=None):
        raise RuntimeError("en-têtes illisibles")


@pytest.mark.parametrize("verifier", [
    Base64BodyHmac("Webhook-Signature"),
    TimestampedHexHmac(signature_header="Revolut-Signature", timestamp_header="Revolut-Request-Timestamp"),
])
def test_the_debug_technical_500_page_does_not_show_the_webhook_secret(settings, verifier):
    settings.DEBUG = True
    request = RequestFactory().post("/hooks/x/", data=b"{}", content_type="application/json")
    try:
        verifier.verify(ExplodingHeaders(), b"{}", [SECRET])
    except RuntimeError:
        page = technical_500_response(request, *sys.exc_info()).content.decode()
    assert "en-têtes illisibles" in page and "secrets" in page  # the page did render the frames' variables
    assert SECRET not in page


def test_encrypting_does_not_show_the_plaintext_in_the_debug_page(settings, monkeypatch):
    settings.DEBUG = True

    def no_cipher():
        raise RuntimeError("clés indisponibles")

    monkeypatch.setattr(encryption, "cipher", no_cipher)
    try:
        encryption.encrypt(SECRET)
    except RuntimeError:
        page = technical_500_response(RequestFactory().get("/"), *sys.exc_info()).content.decode()
    assert "clés indisponibles" in page and "plaintext" in page
    assert SECRET not in page


@pytest.fixture
def unreadable_hook(db, redis_connection, settings):
    from apps.core import providers

    hook = registered_hook(Base64BodyScheme, slug="compta-principale")
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]  # the key that encrypted it is gone
    yield hook
    providers.unregister(hook.scheme.provider_key)


def test_a_secret_no_key_decrypts_is_one_french_line_naming_the_connection_and_the_remedy(unreadable_hook):
    [error] = check_unreadable_secrets(databases=["default"])
    assert "\n" not in error.msg
    assert "compta-principale" in error.msg
    assert "FIELD_ENCRYPTION_KEYS" in error.hint and "rotate_encryption_keys" in error.hint
    assert "gAAAAA" not in error.msg + error.hint


def test_a_delivery_to_a_connection_whose_secret_is_unreadable_is_a_503_in_french(unreadable_hook):
    body, headers = unreadable_hook.scheme.signed_delivery(unreadable_hook.secret)
    response = Client().post(unreadable_hook.connection.webhook_path(), data=body, content_type="application/json",
                             headers=headers)
    assert response.status_code == 503
    assert "illisible" in response.json()["detail"]


def test_the_admin_lists_and_opens_a_connection_whose_secret_is_unreadable(unreadable_hook, admin_client):
    from django.urls import reverse

    listing = admin_client.get(reverse("admin:core_connection_changelist"))
    assert listing.status_code == 200
    assert "compta-principale" in listing.content.decode()
    page = admin_client.get(reverse("admin:core_connection_change", args=[unreadable_hook.connection.pk]))
    assert page.status_code == 200
    assert "secret illisible" in page.content.decode()


def test_typing_the_webhook_secret_again_repairs_the_connection_and_saving_without_keeps_the_token(
        unreadable_hook):
    from apps.core.forms import ConnectionForm
    from apps.core.models import Connection

    connection = Connection.objects.get(pk=unreadable_hook.connection.pk)
    data = {"name": connection.name, "slug": connection.slug, "base_url": "", "is_active": "on", "config": "{}"}
    form = ConnectionForm(instance=connection, data=data)
    assert form.is_valid(), form.errors
    form.save()
    with pytest.raises(encryption.DecryptionError):  # nothing typed: the old token is still there, unread
        Connection.objects.get(pk=connection.pk).webhook_secrets  # noqa: B018

    form = ConnectionForm(instance=Connection.objects.get(pk=connection.pk),
                          data=data | {"new_webhook_secret": "whsec-new-0123456789"})
    assert form.is_valid(), form.errors
    form.save()
    assert Connection.objects.get(pk=connection.pk).webhook_secrets == ["whsec-new-0123456789"]
    body, headers = unreadable_hook.scheme.signed_delivery("whsec-new-0123456789")
    response = Client().post(connection.webhook_path(), data=body, content_type="application/json", headers=headers)
    assert response.status_code == 200  # the inbox accepts deliveries again
