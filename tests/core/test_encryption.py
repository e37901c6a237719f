from io import StringIO

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command
from django.db import connection as db

from apps.core import encryption
from apps.core.models import Connection

pytestmark = pytest.mark.django_db

KEY_A, KEY_B, KEY_C = (Fernet.generate_key().decode() for _ in range(3))
TOKEN = "in-token-7a6b5c4d3e2f1a0b"


def raw_row(connection):
    with db.cursor() as cursor:
        cursor.execute("SELECT secrets, webhook_secrets, oauth_token FROM core_connection WHERE id = %s",
                       [connection.pk])
        return cursor.fetchone()


def rotate():
    out = StringIO()
    call_command("rotate_encryption_keys", stdout=out)
    return out.getvalue()


@pytest.fixture
def stored(settings):
    settings.FIELD_ENCRYPTION_KEYS = [KEY_A]
    connections = [
        Connection.objects.create(
            provider="invoiceninja", name=f"Compte {i}", slug=f"compte-{i}",
            secrets={"api_token": f"{TOKEN}-{i}"}, webhook_secrets=[f"whsec-{i}-0123456789"],
            oauth_token={"refresh_token": f"refresh-{i}-secret"},
        )
        for i in range(3)
    ]
    return connections


def test_the_database_holds_ciphertext_only(stored):
    for value in raw_row(stored[0]):
        assert TOKEN not in value and "whsec-" not in value and "refresh-" not in value
        assert value.startswith("gAAAAA")  # a Fernet token


def test_rotation_moves_every_row_to_the_new_key(stored, settings):
    settings.FIELD_ENCRYPTION_KEYS = [KEY_B, KEY_A]
    before = [raw_row(c) for c in stored]

    output = rotate()

    assert "core.Connection : 3 ligne(s) rechiffrée(s)." in output
    assert "Rotation terminée : 3 ligne(s)" in output
    after = [raw_row(c) for c in stored]
    assert all(set(old).isdisjoint(new) for old, new in zip(before, after))

    settings.FIELD_ENCRYPTION_KEYS = [KEY_B]  # the old key is gone: everything must still read
    for i, connection in enumerate(Connection.objects.order_by("slug")):
        assert connection.secrets == {"api_token": f"{TOKEN}-{i}"}
        assert connection.webhook_secrets == [f"whsec-{i}-0123456789"]
        assert connection.oauth_token == {"refresh_token": f"refresh-{i}-secret"}
        assert all(TOKEN not in value for value in raw_row(connection))


def test_without_rotation_dropping_the_old_key_makes_rows_unreadable(stored, settings):
    settings.FIELD_ENCRYPTION_KEYS = [KEY_B]
    connection = Connection.objects.get(pk=stored[0].pk)  # the row loads: lists and checks can name it
    with pytest.raises(encryption.DecryptionError) as exc:
        connection.secrets  # noqa: B018
    message = str(exc.value)
    assert f"« {connection.slug} »" in message and "rotate_encryption_keys" in message
    assert "aucune clé de FIELD_ENCRYPTION_KEYS ne le déchiffre" in message
    assert "gAAAAA" not in message and TOKEN not in message


def test_rotation_with_a_wrong_key_fails_clearly_and_changes_nothing(stored, settings):
    before = [raw_row(c) for c in stored]
    settings.FIELD_ENCRYPTION_KEYS = [KEY_C]

    with pytest.raises(CommandError) as exc:
        rotate()

    message = str(exc.value)
    assert message.startswith(f"core.Connection n° {stored[0].pk} : Secret illisible")
    assert "Aucun secret n'a été modifié." in message
    assert not any(token in message for row in before for token in row)
    assert [raw_row(c) for c in stored] == before


def test_missing_keys_are_a_configuration_error(stored, settings):
    settings.FIELD_ENCRYPTION_KEYS = []
    with pytest.raises(CommandError, match="FIELD_ENCRYPTION_KEYS est vide"):
        rotate()


def test_an_invalid_key_is_a_configuration_error(stored, settings):
    settings.FIELD_ENCRYPTION_KEYS = ["pas-une-cle-fernet"]
    with pytest.raises(CommandError, match="FIELD_ENCRYPTION_KEYS contient une clé invalide"):
        rotate()


def test_rotation_walks_every_batch(stored, settings):
    settings.FIELD_ENCRYPTION_KEYS = [KEY_B, KEY_A]
    out = StringIO()
    call_command("rotate_encryption_keys", "--batch-size", "2", stdout=out)
    assert "3 ligne(s) rechiffrée(s)" in out.getvalue()
    settings.FIELD_ENCRYPTION_KEYS = [KEY_B]
    assert sorted(c.secrets["api_token"] for c in Connection.objects.all()) == [f"{TOKEN}-{i}" for i in range(3)]


def test_mask_shows_at_most_the_last_four_characters_of_long_secrets():
    assert encryption.mask("abcdefgh1234") == "••••1234"
    assert encryption.mask("short") == "••••"
    assert encryption.mask("") == ""
