import re

import pytest
import responses
from django.contrib.auth.models import Permission, User
from django.db import connection as db
from django.urls import reverse

from apps.core import providers
from apps.core.forms import webhook_secret_fingerprint
from apps.core.models import Connection, SyncRun
from tests.core.provider_double import BASE_URL, DoubleItems, DoubleProvider, double_provider  # noqa: F401

pytestmark = pytest.mark.django_db

TOKEN = "tok-live-9f8e7d6c5b4a3210"
CLIENT_ID = "client-abcdef-778899"
WEBHOOK_SECRET = "whsec-0123456789abcdef"


def grant(user, *perms):
    for perm in perms:
        app_label, codename = perm.split(".")
        user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))


def staff(client, username, *perms):
    user = User.objects.create_user(username, password="x", is_staff=True)
    grant(user, *perms)
    client.force_login(user)
    return user


@pytest.fixture
def connection(double_provider):
    return Connection.objects.create(
        provider="double", name="Compte principal", slug="compte-principal", base_url=BASE_URL,
        secrets={"api_token": TOKEN, "client_id": CLIENT_ID}, webhook_secrets=[WEBHOOK_SECRET],
    )


def change_url(connection):
    return reverse("admin:core_connection_change", args=[connection.pk])


def form_data(connection, **overrides):
    data = {
        "name": connection.name, "slug": connection.slug, "base_url": connection.base_url,
        "is_active": "on", "config": "{}", "secret__api_token": "", "secret__client_id": "",
        "new_webhook_secret": "", "_save": "Enregistrer",
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


def test_changelist_shows_provider_and_health(admin_client, connection):
    Connection.objects.filter(pk=connection.pk).update(consecutive_failures=2, last_error="HTTP 502")
    html = admin_client.get(reverse("admin:core_connection_changelist")).content.decode()
    assert "Compte principal" in html
    assert "Système double" in html
    assert '<span class="console-badge console-badge--degraded">Dégradée</span>' in html
    assert TOKEN not in html


def test_changelist_filters_by_health(admin_client, connection):
    Connection.objects.create(provider="double", name="En panne", slug="en-panne", consecutive_failures=4)
    html = admin_client.get(reverse("admin:core_connection_changelist"), {"sante": "en_echec"}).content.decode()
    assert "En panne" in html and "Compte principal" not in html


def test_change_page_never_renders_a_secret(admin_client, connection, settings):
    settings.PUBLIC_BASE_URL = "https://console.example.fr"
    html = admin_client.get(change_url(connection)).content.decode()

    assert TOKEN not in html and CLIENT_ID not in html and WEBHOOK_SECRET not in html
    assert "Valeur enregistrée : ••••3210. Laisser vide pour la conserver." in html
    assert "••••8899" in html and "••••cdef" in html
    assert re.search(r'<input type="password" name="secret__api_token"[^>]*>', html)
    assert 'value="' not in re.search(r'<input type="password" name="secret__api_token"[^>]*>', html).group(0)
    assert f"https://console.example.fr/hooks/double/{connection.webhook_endpoint_id}/" in html


def test_empty_secret_input_keeps_the_stored_value_and_a_new_one_replaces_it(admin_client, connection):
    response = admin_client.post(change_url(connection), form_data(connection, secret__api_token="tok-new-00001111"))
    assert response.status_code == 302
    connection.refresh_from_db()
    assert connection.secrets == {"api_token": "tok-new-00001111", "client_id": CLIENT_ID}

    admin_client.post(change_url(connection), form_data(connection, name="Renommée"))
    connection.refresh_from_db()
    assert connection.name == "Renommée"
    assert connection.secrets == {"api_token": "tok-new-00001111", "client_id": CLIENT_ID}


def test_clear_box_empties_a_secret(admin_client, connection):
    admin_client.post(change_url(connection), form_data(connection, secret__client_id__clear="on"))
    connection.refresh_from_db()
    assert connection.secrets == {"api_token": TOKEN}


def test_new_value_and_clear_together_is_refused_with_a_message(admin_client, connection):
    response = admin_client.post(
        change_url(connection), form_data(connection, secret__client_id="x-new", secret__client_id__clear="on")
    )
    assert response.status_code == 200
    assert "Saisir une nouvelle valeur ou effacer l&#x27;ancienne, pas les deux." in response.content.decode()
    assert "x-new" not in response.content.decode()
    connection.refresh_from_db()
    assert connection.secrets["client_id"] == CLIENT_ID


def test_webhook_secret_rotation_adds_then_removes_individually(admin_client, connection):
    admin_client.post(change_url(connection), form_data(connection, new_webhook_secret="whsec-new-99998888"))
    connection.refresh_from_db()
    assert connection.webhook_secrets == [WEBHOOK_SECRET, "whsec-new-99998888"]

    html = admin_client.get(change_url(connection)).content.decode()
    assert "whsec-new-99998888" not in html and "••••8888" in html

    admin_client.post(
        change_url(connection),
        form_data(connection, remove_webhook_secrets=webhook_secret_fingerprint(WEBHOOK_SECRET)),
    )
    connection.refresh_from_db()
    assert connection.webhook_secrets == ["whsec-new-99998888"]


class OtherDouble(DoubleProvider):
    key = "autre"
    label = "Autre système"


def test_add_starts_by_choosing_the_provider(admin_client, double_provider):
    providers.register(OtherDouble())
    try:
        html = admin_client.get(reverse("admin:core_connection_add")).content.decode()
    finally:
        providers.unregister("autre")
    assert '<a href="?provider=double">Système double</a>' in html
    assert '<a href="?provider=autre">Autre système</a>' in html


def test_add_form_asks_for_the_provider_secrets_and_stores_them_encrypted(admin_client, double_provider):
    url = reverse("admin:core_connection_add")
    html = admin_client.get(url, {"provider": "double"}).content.decode()
    assert 'name="secret__api_token"' in html and 'name="secret__client_id"' in html

    response = admin_client.post(f"{url}?provider=double", {
        "provider": "double", "name": "Nouvelle", "slug": "nouvelle", "base_url": BASE_URL, "is_active": "on",
        "config": '{"compte": 42}', "secret__api_token": TOKEN, "secret__client_id": "",
        "new_webhook_secret": WEBHOOK_SECRET, "_save": "Enregistrer",
    })
    assert response.status_code == 302
    connection = Connection.objects.get(slug="nouvelle")
    assert connection.secrets == {"api_token": TOKEN}
    assert connection.webhook_secrets == [WEBHOOK_SECRET]
    assert connection.config == {"compte": 42}
    with db.cursor() as cursor:
        cursor.execute("SELECT secrets FROM core_connection WHERE id = %s", [connection.pk])
        assert TOKEN not in cursor.fetchone()[0]


def test_view_only_staff_sees_masked_values_and_cannot_change(client, connection):
    staff(client, "lecteur", "core.view_connection")
    response = client.get(change_url(connection))
    html = response.content.decode()
    assert response.status_code == 200
    assert "••••3210" in html and TOKEN not in html
    assert 'name="secret__api_token"' not in html

    assert client.post(change_url(connection), form_data(connection, name="Piratée")).status_code == 403
    assert client.get(reverse("admin:core_connection_add")).status_code == 403
    changelist = client.get(reverse("admin:core_connection_changelist")).content.decode()
    assert "Tester la connexion" not in changelist


def test_model_permissions_alone_do_not_allow_changes_without_the_capability(client, connection):
    staff(client, "editeur", "core.view_connection", "core.change_connection")
    assert client.post(change_url(connection), form_data(connection, name="Modifiée")).status_code == 403
    connection.refresh_from_db()
    assert connection.name == "Compte principal"


def test_the_capability_allows_changes(client, connection):
    staff(client, "gestionnaire", "core.view_connection", "core.change_connection", "core.manage_connections")
    assert client.post(change_url(connection), form_data(connection, name="Modifiée")).status_code == 302
    connection.refresh_from_db()
    assert connection.name == "Modifiée"


def run_action(client, action, *connections):
    return client.post(
        reverse("admin:core_connection_changelist"),
        {"action": action, "_selected_action": [c.pk for c in connections]},
        follow=True,
    )


@responses.activate
def test_test_action_reports_success_and_failure(admin_client, connection):
    other = Connection.objects.create(provider="double", name="Autre", slug="autre", base_url="https://other.test/api")
    responses.get(f"{BASE_URL}/me", json={"name": "Démo SA"})
    responses.get("https://other.test/api/me", status=401, json={"message": "Jeton invalide"})

    html = run_action(admin_client, "test_connections", connection, other).content.decode()

    assert "« Compte principal » : compte Démo SA" in html
    assert "« Autre » : échec du test — Jeton invalide" in html
    connection.refresh_from_db()
    other.refresh_from_db()
    assert connection.last_ok_at is not None
    assert other.consecutive_failures == 1


def test_sync_action_with_one_run_opens_its_progress_page(admin_client, connection, monkeypatch):
    monkeypatch.setattr(DoubleProvider, "sync_resources", (DoubleItems,))
    response = admin_client.post(
        reverse("admin:core_connection_changelist"),
        {"action": "sync_now", "_selected_action": [connection.pk]},
    )
    run = SyncRun.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/console/sync/{run.pk}/"
    assert (run.resource, run.status, run.started_by.username) == ("items", SyncRun.Status.QUEUED, "admin")


def test_sync_action_starts_every_resource_and_reports_running_ones(admin_client, connection):
    running = SyncRun.objects.create(connection=connection, resource="items", status=SyncRun.Status.RUNNING)
    html = run_action(admin_client, "sync_now", connection).content.decode()

    assert "« Compte principal » : synchronisation de Éléments déjà en cours." in html
    assert f'href="/console/sync/{running.pk}/"' in html
    assert "« Compte principal » : synchronisation de Notes lancée." in html
    assert SyncRun.objects.filter(resource="notes", status=SyncRun.Status.QUEUED).count() == 1
