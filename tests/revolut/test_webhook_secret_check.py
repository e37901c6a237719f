"""The missing-webhook-secret system check waits for an OAuth connection to be connected."""

import pytest
from django.core.checks import run_checks

from apps.core.models import Connection
from apps.core.webhooks.checks import ID_NO_WEBHOOK_SECRET

pytestmark = pytest.mark.django_db


def flagged_slugs():
    errors = [e for e in run_checks(databases=["default"]) if e.id == ID_NO_WEBHOOK_SECRET]
    return errors[0].msg if errors else ""


def test_a_revolut_connection_is_flagged_only_once_connected_without_a_secret():
    connection = Connection.objects.create(
        provider="revolut", name="Revolut", slug="revolut-prod", token_status=Connection.TokenStatus.MISSING
    )
    assert "revolut-prod" not in flagged_slugs()  # its webhook is registered when it connects

    connection.token_status = Connection.TokenStatus.OK
    connection.save()
    assert "revolut-prod" in flagged_slugs()

    connection.webhook_secrets = ["wsk_secret"]
    connection.save()
    assert "revolut-prod" not in flagged_slugs()
