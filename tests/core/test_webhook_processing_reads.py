"""What a handler is given: the delivery and its connection exactly as they were stored, read by the processing
job's own SELECT (apps/core/webhooks/claim.py) rather than the ORM's, every column converted as the ORM would."""

import pytest

from apps.core import providers
from apps.core.models import WebhookEvent
from apps.core.webhooks import claim
from tests.core.webhook_doubles import HANDLED_TYPE, Base64BodyScheme, registered_hook
from tests.workers import run_jobs

SETTINGS = {"payment_accounts": {"EUR": "acc-1"}, "rappels": [3, 10], "actif": True}


@pytest.fixture(autouse=True)
def first_job_of_a_worker():
    """The statements and converters are built by a worker's first job, then kept: start without them."""
    for built in (claim._columns, claim._claim_sql, claim._select_sql):
        built.cache_clear()
    claim._converter_cache.clear()


@pytest.fixture
def seen():
    return []


@pytest.fixture
def hook(redis_connection, seen):
    def handler(event):
        seen.append(event)

    hook = registered_hook(Base64BodyScheme, handlers={HANDLED_TYPE: handler}, config=SETTINGS)
    yield hook
    providers.unregister(hook.scheme.provider_key)


@pytest.mark.django_db(transaction=True)
def test_a_handler_reads_the_delivery_and_its_connection_as_stored(hook, seen):
    response = hook.post(headers={"X-Request-Id": "req-42"})
    assert response.status_code == 200
    run_jobs("webhooks")

    (event,) = seen
    stored = WebhookEvent.objects.select_related("connection").get(pk=response.json()["id"])
    for field in WebhookEvent._meta.concrete_fields:
        if field.name not in ("status", "attempts", "processed_at", "started_at"):  # moved by the job itself
            assert getattr(event, field.attname) == getattr(stored, field.attname), field.name
    assert event.headers["X-Request-Id"] == "req-42" and event.received_at.tzinfo is not None
    assert event.connection.config == SETTINGS
    assert (event.connection.pk, event.connection.name, event.connection.is_active) == (
        stored.connection.pk, stored.connection.name, True)
    # Its secrets are loaded when asked for, decrypted: the verifier of a DocuSeal delivery needs them.
    assert event.connection.webhook_secrets == [hook.secret]


@pytest.mark.django_db(transaction=True)
def test_a_worker_reads_its_second_delivery_as_well_as_its_first(hook, seen):
    ids = [hook.post(headers={"X-Request-Id": f"req-{n}"}).json()["id"] for n in (1, 2)]
    run_jobs("webhooks")
    assert [(event.pk, event.headers["X-Request-Id"], event.connection.config) for event in seen] == [
        (ids[0], "req-1", SETTINGS), (ids[1], "req-2", SETTINGS)]
