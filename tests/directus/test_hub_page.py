"""The Directus hub page: the exact Flow settings to paste (IMPORT_IP_DENY_LIST pitfall included), the outbox,
the buttons for those who may manage connections, nothing for others."""

import pytest
from django.contrib.auth.models import Permission, User

from apps.directus.models import OutboxEntry
from apps.hub.models import Company

pytestmark = pytest.mark.django_db


def staff_with(*codenames):
    user = User.objects.create_user("agent", password="pw-agent-123", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    return User.objects.get(pk=user.pk)


def test_hub_page_gives_the_flow_settings_and_the_outbox(client, connection):
    Company.objects.create(name="En attente")
    OutboxEntry.objects.update(attempts=2, last_error="Directus est indisponible (SERVICE_UNAVAILABLE).")
    client.force_login(staff_with("view_console", "manage_connections"))
    page = client.get("/directus/").content.decode()
    assert connection.webhook_url() in page
    assert "X-Console-Webhook-Token" in page and "{{$env.CONSOLE_WEBHOOK_TOKEN}}" in page
    assert "FLOWS_ENV_ALLOW_LIST=CONSOLE_WEBHOOK_TOKEN" in page
    assert "IMPORT_IP_DENY_LIST=169.254.169.254" in page
    assert "items.create, items.update, items.delete" in page and "console_integration_status" in page
    assert "<td><code>{{$trigger}}</code></td>" in page
    assert "<code>X-Console-Webhook-Token</code> = <code>{{$env.CONSOLE_WEBHOOK_TOKEN}}</code>" in page
    # The trigger and the operation to pick in Directus's Flow editor, as Directus names them.
    assert "<td>Event Hook — Action (non bloquante)</td>" in page
    assert "<td>Webhook / Request URL — méthode <code>POST</code></td>" in page
    assert "1 écriture en attente" in page and "SERVICE_UNAVAILABLE" in page
    assert "contacts.email" in page  # the written list of fields Directus may change
    assert "Créer les collections miroir" in page and "Resynchroniser" in page


def test_hub_page_without_manage_permission_has_no_buttons_and_anonymous_is_sent_away(client, connection):
    assert client.get("/directus/").status_code == 302
    client.force_login(staff_with("view_console"))
    page = client.get("/directus/").content.decode()
    assert "Créer les collections miroir" not in page
    assert client.post("/directus/resync/", {"connection": connection.pk}).status_code == 403


def test_a_refused_maintenance_call_is_a_readable_message_not_a_500(client, connection):
    import responses

    client.force_login(staff_with("view_console", "manage_connections"))
    with responses.RequestsMock() as mocked:
        mocked.get(f"{connection.base_url}/collections", status=403, json={"errors": [
            {"message": "You don't have permission to access this.", "extensions": {"code": "FORBIDDEN"}}]})
        answer = client.post("/directus/schema/", {"connection": connection.pk}, follow=True)
    assert answer.status_code == 200
    assert "You don&#x27;t have permission to access this." in answer.content.decode()


def test_a_record_page_shows_its_directus_item_status_and_last_note(admin_client, connection):
    from apps.directus.models import MirroredItem
    from apps.hub.models import Quote

    company = Company.objects.create(name="Atelier")
    quote = Quote.objects.create(company=company, title="Site", status=Quote.Status.SENT)
    MirroredItem.objects.create(connection=connection, collection="quotes", item_id=f"quote-{quote.pk}",
                                note="Modification refusée le 03/12/2026 10:00 : total (champ géré par la console).")
    page = admin_client.get(f"/admin/hub/quote/{quote.pk}/change/").content.decode()
    assert f"console_quotes/quote-{quote.pk}" in page
    assert "envoyé" in page and "écritures en attente" in page
    assert "total (champ géré par la console)" in page
