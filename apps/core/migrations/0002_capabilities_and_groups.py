"""The capability permissions (on the table-less Capability model) and one group per capability.

Permissions are created here rather than left to post_migrate so the groups can hold them in the same
migration. Names are frozen copies: later renames need their own migration.
"""

from django.db import migrations, models

CAPABILITIES = [
    ("view_console", "Consulter la console", "Console — consultation"),
    ("manage_connections", "Gérer les connexions", "Connexions — gestion"),
    ("replay_webhooks", "Rejouer les webhooks", "Webhooks — relance"),
    ("send_documents", "Envoyer les devis et factures", "Devis et factures — envoi"),
    ("send_emails", "Envoyer les e-mails", "E-mails — envoi"),
    ("pay_suppliers", "Payer les fournisseurs", "Paiement fournisseurs"),
    ("approve_payments", "Approuver les paiements", "Paiements — approbation"),
    ("view_balances", "Consulter les soldes", "Trésorerie — soldes"),
]


def create_groups(apps, schema_editor):
    db = schema_editor.connection.alias
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    Group = apps.get_model("auth", "Group")
    content_type, _ = ContentType.objects.using(db).get_or_create(app_label="core", model="capability")
    for codename, permission_name, group_name in CAPABILITIES:
        permission, _ = Permission.objects.using(db).get_or_create(
            content_type=content_type, codename=codename, defaults={"name": permission_name}
        )
        group, _ = Group.objects.using(db).get_or_create(name=group_name)
        group.permissions.add(permission)


def delete_groups(apps, schema_editor):
    db = schema_editor.connection.alias
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    Group.objects.using(db).filter(name__in=[group for _, _, group in CAPABILITIES]).delete()
    Permission.objects.using(db).filter(
        content_type__app_label="core", content_type__model="capability",
        codename__in=[codename for codename, _, _ in CAPABILITIES],
    ).delete()


class Migration(migrations.Migration):

    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("core", "0001_initial"),
    ]

    operations = [
        migrations.CreateModel(
            name="Capability",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
            ],
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
                ],
                "managed": False,
                "default_permissions": (),
            },
        ),
        migrations.RunPython(create_groups, delete_groups),
    ]
