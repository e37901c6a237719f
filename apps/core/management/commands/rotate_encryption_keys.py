"""`manage.py rotate_encryption_keys`: re-encrypt every stored secret with the current (first) key.

Rotation: prepend the new key to FIELD_ENCRYPTION_KEYS (`new,old`), run this command, then drop the old
key. The stored tokens are rotated as they are, without going through JSON, in one transaction: a row
that no key decrypts stops the command and nothing is rewritten.
"""

from django.apps import apps
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError
from django.db import connection as db, transaction

from apps.core import encryption
from apps.core.fields import EncryptedJSONField

BATCH_SIZE = 500


def encrypted_fields():
    """(model, [EncryptedJSONField...]) for every installed model that has one."""
    for model in apps.get_models():
        if model._meta.proxy or not model._meta.managed:
            continue
        fields = [f for f in model._meta.concrete_fields if isinstance(f, EncryptedJSONField)]
        if fields:
            yield model, fields


class Command(BaseCommand):
    help = "Rechiffre tous les secrets stockés avec la première clé de FIELD_ENCRYPTION_KEYS."

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=BATCH_SIZE, help="Lignes lues par lot.")

    def handle(self, *args, batch_size: int, **options):
        try:
            encryption.cipher()
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from None

        totals = []
        try:
            with transaction.atomic():
                for model, fields in encrypted_fields():
                    totals.append((model._meta.label, rotate_model(model, fields, batch_size)))
        except encryption.DecryptionError as exc:
            raise CommandError(f"{exc} Aucun secret n'a été modifié.") from None

        for label, count in totals:
            self.stdout.write(f"{label} : {count} ligne(s) rechiffrée(s).")
        self.stdout.write(self.style.SUCCESS(
            f"Rotation terminée : {sum(count for _, count in totals)} ligne(s) rechiffrée(s) avec la clé courante."
        ))


def rotate_model(model, fields, batch_size: int) -> int:
    """Rotate the raw tokens of `fields` for every row of `model`, keyset-paginated by primary key."""
    table = db.ops.quote_name(model._meta.db_table)
    pk = db.ops.quote_name(model._meta.pk.column)
    columns = [db.ops.quote_name(field.column) for field in fields]
    select = f"SELECT {pk}, {', '.join(columns)} FROM {table} WHERE {pk} > %s ORDER BY {pk} LIMIT %s"
    update = f"UPDATE {table} SET {', '.join(f'{c} = %s' for c in columns)} WHERE {pk} = %s"

    rotated, last_pk = 0, None
    with db.cursor() as cursor:
        while True:
            if last_pk is None:
                cursor.execute(select.replace(f"WHERE {pk} > %s ", ""), [batch_size])
            else:
                cursor.execute(select, [last_pk, batch_size])
            rows = cursor.fetchall()
            if not rows:
                return rotated
            updates = []
            for row_pk, *tokens in rows:
                try:
                    new_tokens = [encryption.rotate(token) if token else token for token in tokens]
                except encryption.DecryptionError as exc:
                    raise encryption.DecryptionError(f"{model._meta.label} n° {row_pk} : {exc}") from None
                updates.append([*new_tokens, row_pk])
            cursor.executemany(update, updates)
            rotated += len(updates)
            last_pk = rows[-1][0]
