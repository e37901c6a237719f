"""A provider that exists in tests only: proves the kernel (CLI, admin, console home) works for any system.

Its client goes through apps.core.http.ApiClient against `responses`-mocked URLs; its sync resource
serves pages from a list. Use the `double_provider` fixture (and `double_records_table` for a sync that
writes mirrors).
"""

import pytest
from django.db import connection as db

from apps.core import providers
from apps.core.http import ApiClient
from apps.core.models import ExternalRecord
from apps.core.sync import Page, SyncResource

BASE_URL = "https://double.example.test/api"


class DoubleRecord(ExternalRecord):
    class Meta(ExternalRecord.Meta):
        # Not an installed app: invisible to migrations and to apps.get_models(); the table is created per test.
        app_label = "connections_double"


class DoubleNoteRecord(ExternalRecord):
    class Meta(ExternalRecord.Meta):
        app_label = "connections_double"


class DoubleClient(ApiClient):
    def auth_headers(self):
        return {"Authorization": f"Bearer {self.connection.secret('api_token', '')}"}


class DoubleItems(SyncResource):
    name = "items"
    label = "Éléments"
    model = DoubleRecord
    pages: list[list[dict]] = []

    def fetch_page(self, checkpoint):
        index = checkpoint.get("page", 0)
        return Page(items=self.pages[index], checkpoint={"page": index + 1}, done=index + 1 >= len(self.pages))


class DoubleNotes(DoubleItems):
    name = "notes"
    label = "Notes"
    model = DoubleNoteRecord


class DoubleProvider(providers.Provider):
    key = "double"
    label = "Système double"
    secret_names = ("api_token", "client_id")
    sync_resources = (DoubleItems, DoubleNotes)

    def client(self, connection):
        return DoubleClient(connection)

    def test_connection(self, connection):
        account = self.client(connection).get("me").json()
        return f"compte {account['name']}"

    def hub_url(self):
        return "/hub/double/"


@pytest.fixture
def double_provider():
    provider = providers.register(DoubleProvider())
    DoubleItems.pages = DoubleNotes.pages = []
    yield provider
    providers.unregister(provider.key)


@pytest.fixture
def double_records_table(transactional_db):
    """The mirror tables, for tests whose sync really writes rows (transactional, so SQLite can create them)."""
    with db.schema_editor() as editor:
        editor.create_model(DoubleRecord)
        editor.create_model(DoubleNoteRecord)
    yield DoubleRecord
    with db.schema_editor() as editor:
        editor.delete_model(DoubleRecord)
        editor.delete_model(DoubleNoteRecord)
