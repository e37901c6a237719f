"""The flush that closes each journey survives the servers' work on the same database (tests/e2e/conftest.py).

A landing CI run lost two journeys to it: the flush after one journey was chosen as a deadlock's victim while the
worker still had a transaction open, the journey's rows stayed, and the next journey's demo data collided with
them ("get() returned more than one Company"). Here a "server" transaction holds one table, waits for the
flush to hold another, then reads that one: the deadlock, played in order.
"""

import threading

import pytest
from django.core.management import call_command
from django.core.management.color import no_style
from django.db import connection, connections

from apps.hub.models import Company
from tests.e2e.conftest import retry_the_flush_a_server_deadlocks


def flush_order() -> list[str]:
    tables = connection.introspection.django_table_names(only_existing=True, include_views=False)
    (truncate,) = connection.ops.sql_flush(no_style(), tables)
    return [name.strip(' "') for name in truncate.removeprefix("TRUNCATE").split(";")[0].split(",")]


def wait_for_a_lock_wait(other_pid) -> None:
    with connections["default"].cursor() as cursor:
        for _ in range(200):
            cursor.execute("SELECT count(*) FROM pg_locks WHERE pid = %s AND NOT granted", [other_pid])
            if cursor.fetchone()[0]:
                return
            threading.Event().wait(0.05)
    raise AssertionError("the other session never waited for a lock")


@pytest.mark.django_db(transaction=True)
def test_a_flush_chosen_as_a_deadlocks_victim_is_tried_again_and_empties_the_tables():
    if connection.vendor != "postgresql":
        pytest.skip("table locks and deadlocks: PostgreSQL only (SQLite locks the whole file)")
    retry_the_flush_a_server_deadlocks(connection)
    Company.objects.create(name="Boulangerie Martin")
    order = flush_order()
    first, held = order[0], Company._meta.db_table
    assert order.index(held) > 0
    flush_pid, errors = [], []

    def server():
        try:
            with connections["default"].cursor() as cursor:
                cursor.execute("SET deadlock_timeout = '10s'")  # the flush's session detects the deadlock first
                cursor.execute("BEGIN")
                cursor.execute(f'SELECT 1 FROM "{held}" LIMIT 1')
                ready.set()
                while not flush_pid:
                    threading.Event().wait(0.01)
                wait_for_a_lock_wait(flush_pid[0])  # the flush holds `first` and waits for `held`
                cursor.execute(f'SELECT 1 FROM "{first}" LIMIT 1')
                cursor.execute("COMMIT")
        except Exception as exc:  # noqa: BLE001 - reported to the test below
            errors.append(exc)
        finally:
            connections["default"].close()

    ready = threading.Event()
    thread = threading.Thread(target=server)
    thread.start()
    assert ready.wait(10)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        flush_pid.append(cursor.fetchone()[0])
    call_command("flush", interactive=False, inhibit_post_migrate=True, verbosity=0)
    thread.join(30)

    assert not errors, errors
    assert not Company.objects.exists(), "the journey's rows stayed for the next journey"
