"""A DocuSeal instance older than 2.5.3 signs nothing: its custom secret header is a webhook secret for the
start-up check (core.E101), which must not tell the admin that its deliveries are refused when they are not."""

import pytest
from django.core.checks import run_checks

from apps.core.models import Connection
from apps.core.webhooks.checks import ID_NO_WEBHOOK_SECRET

pytestmark = pytest.mark.django_db


def flagged_slugs():
    errors = [e for e in run_checks(databases=["default"]) if e.id == ID_NO_WEBHOOK_SECRET]
    return errors[0].msg if errors else ""


def test_a_connection_with_neither_hmac_secret_nor_custom_header_is_flagged():
    Connection.objects.create(provider="docuseal", name="DocuSeal", slug="ds-bare", base_url="https://sign.test")

    assert "ds-bare" in flagged_slugs()


def test_a_header_only_connection_is_not_flagged():
    Connection.objects.create(
        provider="docuseal", name="DocuSeal 2.4", slug="ds-old", base_url="https://sign.test",
        config={"secret_header_name": "X-Console-Secret"}, secrets={"webhook_header_value": "v" * 40},
    )

    assert "ds-old" not in flagged_slugs()


def test_a_header_name_without_its_value_is_still_flagged():
    Connection.objects.create(
        provider="docuseal", name="DocuSeal 2.4", slug="ds-half", base_url="https://sign.test",
        config={"secret_header_name": "X-Console-Secret"},
    )

    assert "ds-half" in flagged_slugs()
