import pytest


@pytest.fixture(autouse=True)
def _inbox_insert_built_afresh():
    """The inbox builds its INSERT once per process; each test builds it again, as a new server process would
    (a statement kept from an earlier test would hide a change in how it is built)."""
    from apps.core.webhooks import inbox

    inbox._insert_statements.clear()
    inbox._insert_columns.cache_clear()
