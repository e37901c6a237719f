"""Model fields whose values are encrypted at rest (see apps.core.encryption)."""

import json

from django.db import models

from apps.core import encryption


class EncryptedJSONField(models.TextField):
    """Stores any JSON-serialisable value as a Fernet token.

    The database only ever holds ciphertext; Python code sees the decrypted value. A row that no
    configured key can decrypt raises encryption.DecryptionError on load instead of leaking ciphertext.
    """

    description = "JSON chiffré"

    def from_db_value(self, value, expression, connection):
        if value is None or value == "":
            return self._empty()
        return json.loads(encryption.decrypt(value))

    def to_python(self, value):
        if isinstance(value, (dict, list)) or value is None:
            return value if value is not None else self._empty()
        return value

    def get_prep_value(self, value):
        if value is None:
            value = self._empty()
        return encryption.encrypt(json.dumps(value, sort_keys=True))

    def _empty(self):
        return self.get_default()

    def value_to_string(self, obj):
        return ""  # never serialise secrets (dumpdata, admin history)
