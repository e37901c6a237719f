"""A sync resource that exists in tests only: pages come from an in-memory list, and it can crash on demand.

Fixtures: `paged_provider` registers it (with a mirror table and an active connection); `two_resources_connection`
is a connection of a provider with a second resource beside it.
"""

import pytest
from django.db import connection as db
from django.db import models

from apps.core import providers
from apps.core.models import Connection, ExternalRecord
from apps.core.sync import Page, SyncResource


class PagedMirror(ExternalRecord):
    # No FK constraint in the database: the table outlives the tests and must not block flushing connections.
    connection = models.ForeignKey("core.Connection", on_delete=models.CASCADE, related_name="+", db_constraint=False)
    name = models.CharField(max_length=100, blank=True, default="")  # copied from the item, as real mirrors do

    class Meta(ExternalRecord.Meta):
        app_label = "kernel_ui_sync_double"  # not installed: invisible to migrations and apps.get_models()
        db_table = "kernel_ui_sync_double_mirror"


class WorkerKilled(BaseException):
    """Stands for SIGKILL: not an Exception, so the engine cannot record a failure, as with a real kill."""


class PagedThings(SyncResource):
    name = "things"
    label = "Choses"
    model = PagedMirror

    pages: list[list[dict]] = []
    fetched: list[int] = []  # 1-based numbers of the pages asked for, across runs
    crash_on_page: int | None = None
    crash_with: type[BaseException] = RuntimeError
    copied_columns = ("name",)

    def copy_columns(self, record, item):
        record.name = item.get("name", "")

    def fetch_page(self, checkpoint):
        number = checkpoint.get("page", 0) + 1
        type(self).fetched.append(number)
        if number == type(self).crash_on_page:
            raise type(self).crash_with("coupure réseau pendant la page %d" % number)
        return Page(items=self.pages[number - 1], checkpoint={"page": number}, done=number >= len(self.pages))

    def is_deleted(self, item):
        return item.get("archived", False)


class PagedOthers(PagedThings):
    """A second resource of one connection: same pages and mirror, its own runs."""
    name = "others"
    label = "Autres choses"


class PagedProvider(providers.Provider):
    key = "kerneluipaged"
    label = "Système paginé (test)"
    sync_resources = (PagedThings,)

    def client(self, connection):
        return None


class TwoResourcesProvider(PagedProvider):
    key = "kerneluipaged2"
    label = "Système paginé à deux ressources (test)"
    sync_resources = (PagedThings, PagedOthers)


def items(*ids, **extra):
    return [{"id": i, "name": f"chose {i}", **extra} for i in ids]


@pytest.fixture(scope="session")
def paged_mirror_table(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        table = PagedMirror._meta.db_table
        if table in db.introspection.table_names():
            with db.cursor() as cursor:
                columns = {column.name for column in db.introspection.get_table_description(cursor, table)}
            if columns == {field.column for field in PagedMirror._meta.concrete_fields}:
                return
            with db.schema_editor() as editor:  # a table left by an older version of this double
                editor.delete_model(PagedMirror)
        with db.schema_editor() as editor:
            editor.create_model(PagedMirror)


@pytest.fixture
def paged_provider(paged_mirror_table, db):
    provider = providers.register(PagedProvider())
    PagedThings.pages, PagedThings.fetched, PagedThings.crash_on_page = [], [], None
    PagedThings.crash_with = RuntimeError
    yield provider
    providers.unregister(provider.key)


@pytest.fixture
def paged_connection(paged_provider):
    return Connection.objects.create(provider=PagedProvider.key, name="Paginé", slug="pagine")


@pytest.fixture
def two_resources_connection(paged_provider):
    provider = providers.register(TwoResourcesProvider())
    yield Connection.objects.create(provider=provider.key, name="Deux ressources", slug="deux-ressources")
    providers.unregister(provider.key)
