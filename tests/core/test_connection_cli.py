import json
from io import StringIO

import pytest
import responses
from django.core.management import CommandError, call_command
from django.db import connection as db

from apps.core.http import ServerError
from apps.core.models import ApiCall, Connection, SyncRun
from tests.core.provider_double import BASE_URL, DoubleItems, DoubleNotes, double_provider, double_records_table  # noqa: F401

pytestmark = pytest.mark.django_db

TOKEN = "tok-live-9f8e7d6c5b4a3210"


def run(*args):
    out, err = StringIO(), StringIO()
    call_command("connection", *args, stdout=out, stderr=err)
    return out.getvalue() + err.getvalue()


@pytest.fixture
def connection(double_provider):
    return Connection.objects.create(
        provider="double", name="Compte principal", slug="compte-principal", base_url=BASE_URL,
        secrets={"api_token": TOKEN}, webhook_secrets=["whsec-0123456789abcdef"],
    )


def raw_column(connection, column):
    with db.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM core_connection WHERE id = %s", [connection.pk])
        return cursor.fetchone()[0]


def test_add_creates_an_encrypted_connection_and_prints_its_webhook_url(double_provider, settings):
    settings.PUBLIC_BASE_URL = "https://console.example.fr"
    output = run("add", "double", "--name", "Société Démo", "--base-url", BASE_URL,
                 "--secret", f"api_token={TOKEN}", "--webhook-secret", "whsec-abcdef0123456789")

    connection = Connection.objects.get()
    assert connection.slug == "societe-demo"
    assert connection.secrets == {"api_token": TOKEN}
    assert connection.webhook_secrets == ["whsec-abcdef0123456789"]
    assert f"https://console.example.fr/hooks/double/{connection.webhook_endpoint_id}/" in output
    assert "Secrets non renseignés : client_id" in output
    assert TOKEN not in output
    assert TOKEN not in raw_column(connection, "secrets")
    assert "whsec-abcdef0123456789" not in raw_column(connection, "webhook_secrets")


def test_add_derives_a_unique_slug_from_the_name(double_provider):
    run("add", "double", "--name", "Société Démo")
    run("add", "double", "--name", "Société Démo")
    assert sorted(Connection.objects.values_list("slug", flat=True)) == ["societe-demo", "societe-demo-2"]


def test_add_json_output_masks_secrets(double_provider):
    data = json.loads(run("add", "double", "--name", "Démo", "--secret", f"api_token={TOKEN}", "--json"))
    assert data["slug"] == "demo"
    assert data["secrets"] == {"api_token": "••••3210", "client_id": ""}
    assert TOKEN not in json.dumps(data)


def test_add_reads_a_secret_from_a_hidden_prompt(double_provider, monkeypatch):
    monkeypatch.setattr("apps.core.management.commands.connection.getpass", lambda prompt: TOKEN)
    run("add", "double", "--name", "Démo", "--secret", "api_token=-")
    assert Connection.objects.get().secrets == {"api_token": TOKEN}


def test_add_with_an_unknown_provider_lists_the_known_ones(double_provider):
    with pytest.raises(CommandError, match=r"Système inconnu : 'nope'\. Systèmes disponibles : .*double"):
        run("add", "nope", "--name", "X")
    assert not Connection.objects.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--secret", "password=x"], "Secret inconnu pour Système double : 'password'"),
        (["--secret", "api_token"], "--secret attend NOM=VALEUR"),
        (["--secret", "api_token="], "Le secret 'api_token' est vide"),
        (["--base-url", "pas une url"], "URL de base invalide"),
    ],
)
def test_add_refuses_bad_input_with_a_readable_message(double_provider, args, message):
    with pytest.raises(CommandError, match=message):
        run("add", "double", "--name", "X", *args)
    assert not Connection.objects.exists()


def test_list_shows_every_connection_with_its_health(connection):
    Connection.objects.create(provider="gone", name="Ancien système", slug="ancien")
    output = run("list")
    assert "compte-principal  Système double  Compte principal  Jamais testée" in output
    assert "ancien" in output and "gone" in output

    data = json.loads(run("list", "--json"))
    assert [(c["slug"], c["health"]) for c in data] == [("compte-principal", "Jamais testée"), ("ancien", "Jamais testée")]


def test_show_gives_the_webhook_url_and_masked_secrets_never_values(connection, settings):
    settings.PUBLIC_BASE_URL = "https://console.example.fr"
    output = run("show", "compte-principal")
    assert f"URL du webhook : https://console.example.fr/hooks/double/{connection.webhook_endpoint_id}/" in output
    assert "api_token : ••••3210" in output
    assert "client_id : (non renseigné)" in output
    assert "Secrets de webhook : ••••cdef" in output
    assert TOKEN not in output and "whsec-0123456789abcdef" not in output

    data = json.loads(run("show", "compte-principal", "--json"))
    assert data["webhook_url"] == f"https://console.example.fr/hooks/double/{connection.webhook_endpoint_id}/"
    assert data["secrets"]["api_token"] == "••••3210"
    assert TOKEN not in json.dumps(data)


def test_show_unknown_slug_is_a_readable_error(double_provider):
    with pytest.raises(CommandError, match="Aucune connexion avec l'identifiant 'absente'"):
        run("show", "absente")


@responses.activate
def test_test_makes_the_authenticated_call_and_records_health(connection):
    responses.get(f"{BASE_URL}/me", json={"name": "Démo SA"})
    output = run("test", "compte-principal")
    assert "Connexion « Compte principal » opérationnelle : compte Démo SA" in output
    assert responses.calls[0].request.headers["Authorization"] == f"Bearer {TOKEN}"
    connection.refresh_from_db()
    assert connection.last_ok_at is not None
    assert connection.health_label == "Opérationnelle"
    assert ApiCall.objects.get().status_code == 200


@responses.activate
def test_test_failure_exits_non_zero_and_records_the_error(connection):
    responses.get(f"{BASE_URL}/me", status=401, json={"message": "Jeton invalide"})
    with pytest.raises(CommandError, match="Échec du test de « Compte principal » : Jeton invalide"):
        run("test", "compte-principal")
    connection.refresh_from_db()
    assert (connection.consecutive_failures, connection.last_error) == (1, "Jeton invalide")
    assert connection.health_label == "Dégradée"


@responses.activate
def test_test_counts_a_server_failure_once(connection):
    responses.get(f"{BASE_URL}/me", status=503)
    with pytest.raises(CommandError, match="HTTP 503"):
        run("test", "compte-principal")
    connection.refresh_from_db()
    assert connection.consecutive_failures == 1


def test_sync_reports_already_running_and_unknown_resources(connection):
    running = SyncRun.objects.create(connection=connection, resource="items", status=SyncRun.Status.RUNNING)
    output = run("sync", "compte-principal", "--resource", "items")
    assert f"items : synchronisation déjà en cours (n° {running.pk}, en cours)." in output
    with pytest.raises(CommandError, match="Ressource inconnue pour Système double : 'stock'. Ressources : items, notes"):
        run("sync", "compte-principal", "--resource", "stock")


def test_sync_failure_prints_the_error_and_exits_non_zero(connection, monkeypatch):
    def broken(self, checkpoint):
        raise ServerError("HTTP 502")

    monkeypatch.setattr(DoubleItems, "fetch_page", broken)
    with pytest.raises(CommandError, match="Synchronisation en échec : items"):
        run("sync", "compte-principal", "--resource", "items")
    run_row = SyncRun.objects.get()
    assert run_row.status == SyncRun.Status.FAILED
    assert run_row.error.startswith("HTTP 502")


def test_sync_runs_every_resource_in_process_and_prints_counts(
    double_provider, double_records_table, redis_connection
):
    connection = Connection.objects.create(provider="double", name="Démo", slug="demo", base_url=BASE_URL)
    DoubleItems.pages = [[{"id": 1, "v": "a"}, {"id": 2, "v": "b"}], [{"id": 3, "v": "c"}]]
    DoubleNotes.pages = [[{"id": 10, "v": "n"}]]

    output = run("sync", "demo")
    assert "items : synchronisation" in output and "notes : synchronisation" in output
    assert "ajoutés : 3, mis à jour : 0, inchangés : 0, supprimés : 0, en échec : 0" in output
    assert "ajoutés : 1, mis à jour : 0, inchangés : 0, supprimés : 0, en échec : 0" in output
    assert double_records_table.objects.filter(connection=connection).count() == 3

    DoubleItems.pages = [[{"id": 1, "v": "a"}, {"id": 2, "v": "B"}], [{"id": 3, "v": "c"}]]
    output = run("sync", "demo", "--resource", "items", "--full")
    assert "(complète)" in output
    assert "ajoutés : 0, mis à jour : 1, inchangés : 2, supprimés : 0, en échec : 0" in output
    assert set(SyncRun.objects.values_list("status", flat=True)) == {SyncRun.Status.SUCCEEDED}
