"""The maintenance buttons of every system's hub page follow one rule (apps/core/console/connection_views.py).

A forged form naming another system's connection, a user without the connections capability, or a link
followed with GET never reaches that connection: nothing is tested, synchronised or rewritten on it.
"""

import pytest

from apps.core.models import Connection, SyncRun
from tests.core.action_doubles import make_user

pytestmark = pytest.mark.django_db

BUTTONS = [
    ("invoiceninja", "/invoiceninja/test/"),
    ("invoiceninja", "/invoiceninja/sync/"),
    ("invoiceninja", "/invoiceninja/webhooks/register/"),
    ("mautic", "/mautic/test/"),
    ("mautic", "/mautic/sync/"),
    ("mautic", "/mautic/webhooks/register/"),
    ("erpnext", "/erpnext/sync/"),
    ("erpnext", "/erpnext/test/"),
    ("directus", "/directus/test/"),
    ("directus", "/directus/schema/"),
    ("directus", "/directus/push/"),
    ("directus", "/directus/resync/"),
    ("directus", "/directus/poll/"),
    ("docuseal", "/docuseal/test/"),
    ("docuseal", "/docuseal/webhooks/hmac-secret/"),
    ("docuseal", "/docuseal/webhooks/secret-header/"),
    ("docuseal", "/docuseal/template/"),
]

# What a button's form would carry, so that only the connection check can stop it.
FORM = {"hmac_secret": "whsec_" + "x" * 30, "template_id": "1", "kind": "full"}


@pytest.fixture
def foreign_connection():
    """A Revolut connection: no system's hub button may act on it."""
    return Connection.objects.create(provider="revolut", name="Trésorerie", slug="treso", base_url="https://x.test")


def _untouched(connection):
    fresh = Connection.objects.get(pk=connection.pk)
    return (
        fresh.last_ok_at is None and fresh.last_error_at is None and fresh.webhook_secrets == connection.webhook_secrets
        and fresh.config == connection.config and not SyncRun.objects.filter(connection=connection).exists()
    )


@pytest.mark.parametrize(("provider", "url"), BUTTONS)
def test_a_forged_form_naming_another_systems_connection_finds_nothing(client, provider, url, foreign_connection):
    client.force_login(make_user("lea", "manage_connections", "view_console"))

    response = client.post(url, FORM | {"connection": foreign_connection.pk})

    assert response.status_code == 404 and "Connexion introuvable." in response.content.decode()
    assert _untouched(foreign_connection)


@pytest.mark.parametrize(("provider", "url"), BUTTONS)
def test_a_user_without_the_connections_capability_is_refused(client, provider, url):
    connection = Connection.objects.create(provider=provider, name="Prod", slug="prod", base_url="https://x.test")
    client.force_login(make_user("marc", "view_console"))

    response = client.post(url, FORM | {"connection": connection.pk})

    page = response.content.decode()
    assert response.status_code == 403 and "<title>Accès refusé | Hypervisual Console</title>" in page
    assert "Vous n&#x27;avez pas la permission requise." in page
    assert _untouched(connection)


@pytest.mark.parametrize(("provider", "url"), BUTTONS)
def test_a_button_followed_as_a_link_does_nothing(client, provider, url):
    connection = Connection.objects.create(provider=provider, name="Prod", slug="prod", base_url="https://x.test")
    client.force_login(make_user("lea", "manage_connections", "view_console"))

    response = client.get(url, {"connection": connection.pk})

    assert response.status_code == 405
    assert _untouched(connection)
