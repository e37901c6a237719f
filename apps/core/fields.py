"""Model fields whose values are encrypted at rest (see apps.core.encryption)."""

import json

from django.db import models
from django.db.models.query_utils import DeferredAttribute
from django.views.decorators.debug import sensitive_variables

from apps.core import encryption


class UnreadableSecret:
    """What an encrypted field holds when no configured key decrypts its stored token: the row still loads
    (lists, the inbox and the system checks can name it), the token is written back untouched on save, and
    reading the value raises DecryptionError with one French line naming the record and the remedy."""

    def __init__(self, token: str):
        self.token = token

    def __repr__(self):
        return "<secret illisible>"


def unreadable_message(instance) -> str:
    name = getattr(instance, "slug", None) or instance.pk
    return (f"{instance._meta.verbose_name.capitalize()} « {name} » : secret illisible, aucune clé de "
            "FIELD_ENCRYPTION_KEYS ne le déchiffre. Remède : remettez la clé qui l'a chiffré dans "
            "FIELD_ENCRYPTION_KEYS (puis `manage.py rotate_encryption_keys`), ou saisissez à nouveau ce secret.")


class EncryptedAttribute(DeferredAttribute):
    # A data descriptor (with __set__), so reading goes through __get__ even once the value is in __dict__.
    def __set__(self, instance, value):
        instance.__dict__[self.field.attname] = value

    def __get__(self, instance, cls=None):
        value = super().__get__(instance, cls)
        if isinstance(value, UnreadableSecret):
            raise encryption.DecryptionError(unreadable_message(instance))
        return value


class EncryptedJSONField(models.TextField):
    """Stores any JSON-serialisable value as a Fernet token.

    The database only ever holds ciphertext; Python code sees the decrypted value. A row that no
    configured key can decrypt loads with an UnreadableSecret inside; reading the field raises
    encryption.DecryptionError naming the record, never showing ciphertext.
    """

    description = "JSON chiffré"
    descriptor_class = EncryptedAttribute

    @sensitive_variables()
    def from_db_value(self, value, expression, connection):
        if value is None or value == "":
            return self._empty()
        try:
            return json.loads(encryption.decrypt(value))
        except encryption.DecryptionError:
            return UnreadableSecret(value)

    def to_python(self, value):
        if isinstance(value, (dict, list, UnreadableSecret)) or value is None:
            return value if value is not None else self._empty()
        return value

    def pre_save(self, model_instance, add):
        return model_instance.__dict__.get(self.attname)  # past the descriptor: an unreadable token is kept

    @sensitive_variables()
    def get_prep_value(self, value):
        if isinstance(value, UnreadableSecret):
            return value.token
        if value is None:
            value = self._empty()
        return encryption.encrypt(json.dumps(value, sort_keys=True))

    def _empty(self):
        return self.get_default()

    def value_to_string(self, obj):
        return ""  # never serialise secrets (dumpdata, admin history)
