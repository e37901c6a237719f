"""The operations capability (`core.operate_queues`: the django-rq dashboard) and its "Exploitation" group.

Frozen copy, like migration 0002: later renames need their own migration.
"""

from django.db import migrations

CODENAME, PERMISSION_NAME, GROUP_NAME = "operate_queues", "Exploiter les files de tâches", "Exploitation"


def create_group(apps, schema_editor):
    db = schema_editor.connection.alias
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    Group = apps.get_model("auth", "Group")
    content_type, _ = ContentType.objects.using(db).get_or_create(app_label="core", model="capability")
    permission, _ = Permission.objects.using(db).get_or_create(
        content_type=content_type, codename=CODENAME, defaults={"name": PERMISSION_NAME}
    )
    group, _ = Group.objects.using(db).get_or_create(name=GROUP_NAME)
    group.permissions.add(permission)


def delete_group(apps, schema_editor):
    db = schema_editor.connection.alias
    apps.get_model("auth", "Group").objects.using(db).filter(name=GROUP_NAME).delete()
    apps.get_model("auth", "Permission").objects.using(db).filter(
        content_type__app_label="core", content_type__model="capability", codename=CODENAME
    ).delete()


class Migration(migrations.Migration):

    dependencies = [
        ("core", "0003_french_field_labels"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="capability",
            options={
                "verbose_name": "capacité",
                "verbose_name_plural": "capacités",
                "permissions": [
                    ("view_console", "Consulter la console"),
                    ("manage_connections", "Gérer les connexions"),
                    ("replay_webhooks", "Rejouer les webhooks"),
                    ("send_documents", "Envoyer les devis et factures"),
                    ("send_emails", "Envoyer les e-mails"),
                    ("pay_suppliers", "Payer les fournisseurs"),
                    ("approve_payments", "Approuver les paiements"),
                    ("view_balances", "Consulter les soldes"),
                    ("operate_queues", "Exploiter les files de tâches"),
                ],
                "managed": False,
                "default_permissions": (),
            },
        ),
        migrations.RunPython(create_group, delete_group),
    ]
