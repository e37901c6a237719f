"""`manage.py demo` for Directus: an emulated Directus project, its Flow, a connection, the mirror filled.

Idempotent. The project gets two users: "console" (a role limited to the mirror collections, its static
token in the connection) and an admin, "Data Studio", for hand edits at /sandbox/directus/. The Flow calls
the console's hook with the shared secret from the project's env, and IMPORT_IP_DENY_LIST is set to
169.254.169.254, as on any Directus running on the console's host (NOTES §4.2). The schema is created with
the admin token (creating collections is an admin's job), then the mirror is filled by a resync.
"""

from __future__ import annotations

import secrets

from django.conf import settings

from apps.core.http import ApiError
from apps.core.models import Connection
from apps.directus import resync, schema, webhooks
from apps.directus.bootstrap import bootstrap
from apps.directus.client import DirectusClient
from apps.directus.sandbox.state import SandboxDirectusProject, SandboxDirectusUser

CONNECTION_SLUG = "directus-sandbox"
CONNECTION_NAME = "Directus (sandbox)"
PROJECT_NAME = "Hypervisual (démo)"
ALL_ACTIONS = ["create", "read", "update", "delete"]


def sandbox_url() -> str:
    return f"{settings.SANDBOX_BASE_URL}/sandbox/directus"


def demo_connection() -> tuple[Connection, SandboxDirectusUser]:
    project, _ = SandboxDirectusProject.objects.get_or_create(name=PROJECT_NAME)
    connection = Connection.objects.filter(provider="directus", slug=CONNECTION_SLUG).first()
    if connection is None:
        connection = Connection.objects.create(
            provider="directus", slug=CONNECTION_SLUG, name=CONNECTION_NAME, base_url=sandbox_url(),
            webhook_secrets=[secrets.token_urlsafe(32)],
        )
    elif connection.base_url != sandbox_url():
        connection.base_url = sandbox_url()
        connection.save(update_fields=["base_url", "updated_at"])
    names = [schema.collection_name(connection, key) for key in schema.COLLECTIONS]
    mirror_user, _ = SandboxDirectusUser.objects.get_or_create(
        project=project, email="console@hypervisual.example", defaults={"first_name": "Console"})
    mirror_user.permissions = {name: ALL_ACTIONS for name in names}
    mirror_user.save(update_fields=["permissions"])
    admin_user, _ = SandboxDirectusUser.objects.get_or_create(
        project=project, email="admin@hypervisual.example", defaults={"first_name": "Data Studio", "is_admin": True})
    if connection.secret("token") != mirror_user.token:
        connection.secrets = {**connection.secrets, "token": mirror_user.token}
        connection.save(update_fields=["secrets", "updated_at"])
    flow = webhooks.flow_settings(connection, names)
    project.flow_url = flow["url"]
    project.flow_headers = [{"header": flow["header_name"], "value": flow["header_value"]}]
    project.flow_env = {flow["env_variable"]: connection.webhook_secrets[0]}
    project.flow_collections = names
    project.import_ip_deny_list = "169.254.169.254"
    project.save()
    return connection, admin_user


def seed_demo(stdout) -> None:
    connection, admin_user = demo_connection()
    stdout.write(f"  connexion « {connection.name} » → {connection.base_url}")
    try:
        admin_client = DirectusClient(connection, token=admin_user.token)
        stdout.write("  schéma : " + bootstrap(connection, admin_client).summary())
        report = resync.resync(connection)
        stdout.write(f"  miroir : {len(report.created)} élément(s) à créer, {len(report.corrected)} à corriger "
                     "(envoyés par cette commande ou par le worker)")
        stdout.write(f"  Data Studio simulé : {connection.base_url}/")
    except ApiError as exc:
        stdout.write(f"  sandbox Directus injoignable ({exc}) : lancez la sandbox puis "
                     f"`manage.py directus bootstrap {CONNECTION_SLUG}` (jeton administrateur) et "
                     f"`manage.py directus resync {CONNECTION_SLUG}`.")
