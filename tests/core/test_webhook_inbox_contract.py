"""The inbox's contract at its edges: the exact size limit, what is cut and where, what each refusal answers,
and that processing is enqueued only once the delivery is committed (a rollback enqueues nothing)."""

import io
import json
import uuid

import django_rq
import pytest
from django.core.handlers.asgi import ASGIRequest
from django.db import transaction
from django.test import Client

from apps.core import home, providers, signals
from apps.core.models import WebhookEvent
from apps.core.providers import EventDescription
from apps.core.webhooks import views
from apps.core.webhooks.dispatch import dispatch_received
from apps.core.webhooks.inbox import store_rejected, store_verified
from tests.core.webhook_doubles import (
    HANDLED_TYPE,
    REVOLUT_NOW,
    Base64BodyScheme,
    RevolutLikeScheme,
    b64_hmac,
    make_connection,
    payload,
    registered_hook,
)

Status = WebhookEvent.Status
LIMIT = 2048


@pytest.fixture
def hook(db, redis_connection):
    hook = registered_hook(Base64BodyScheme)
    yield hook
    providers.unregister(hook.scheme.provider_key)


@pytest.fixture
def revolut_hook(db, redis_connection):
    hook = registered_hook(RevolutLikeScheme)
    yield hook
    providers.unregister(hook.scheme.provider_key)


def body_of_exactly(size: int) -> bytes:
    body = payload(event_id="evt-size", padding="")
    body = payload(event_id="evt-size", padding="x" * (size - len(body)))
    assert len(body) == size
    return body


def queued_jobs():
    return django_rq.get_queue("webhooks").count


def asgi_post(hook, body):
    """A chunked upload through the ASGI server: no Content-Length, only the bytes read count."""
    scope = {"type": "http", "method": "POST", "path": hook.connection.webhook_path(), "query_string": b"",
             "client": ("127.0.0.1", 5000),
             "headers": [(b"webhook-signature", b64_hmac(hook.secret, body).encode())]}
    return views.receive(ASGIRequest(scope, io.BytesIO(body)), provider=hook.connection.provider,
                         endpoint_id=str(hook.connection.webhook_endpoint_id))


# The 413 limit is exactly WEBHOOK_MAX_BODY_BYTES ---------------------------------------------------------------
@pytest.mark.parametrize("size, status", [(LIMIT, 200), (LIMIT + 1, 413)])
def test_the_413_limit_is_exactly_webhook_max_body_bytes_with_a_declared_length(hook, settings, size, status):
    settings.WEBHOOK_MAX_BODY_BYTES = LIMIT
    response = hook.post(body_of_exactly(size))
    assert response.status_code == status
    assert WebhookEvent.objects.count() == (1 if status == 200 else 0)
    if status == 413:
        assert response.json() == {"status": "refused", "detail": "Corps de requête trop volumineux."}


@pytest.mark.parametrize("size, status", [(LIMIT, 200), (LIMIT + 1, 413)])
def test_the_413_limit_is_exactly_webhook_max_body_bytes_without_a_declared_length(hook, settings, size, status):
    settings.WEBHOOK_MAX_BODY_BYTES = LIMIT
    response = asgi_post(hook, body_of_exactly(size))
    assert response.status_code == status
    if status == 200:
        assert bytes(WebhookEvent.objects.get().body) == body_of_exactly(size)  # stored whole, not cut
    else:
        assert not WebhookEvent.objects.exists()


def test_a_lying_or_unreadable_content_length_does_not_get_past_the_limit(hook, settings):
    settings.WEBHOOK_MAX_BODY_BYTES = LIMIT
    body = body_of_exactly(LIMIT + 1)
    headers = {"Webhook-Signature": b64_hmac(hook.secret, body)}
    client = Client()
    unreadable = client.generic("POST", hook.connection.webhook_path(), data=body, content_type="application/json",
                                headers=headers, CONTENT_LENGTH="many")
    # Read as "no declared length": then at most the limit is read, and what was read is not a valid delivery.
    assert unreadable.status_code in (401, 413)
    assert not WebhookEvent.objects.exclude(status=Status.REJECTED).exists()


def test_the_default_limit_is_one_mebibyte(settings):
    from config import settings as project_settings

    assert project_settings.WEBHOOK_MAX_BODY_BYTES == 1024 * 1024


# What each refusal answers -----------------------------------------------------------------------------------
def test_a_stale_delivery_is_401_kept_as_rejected_with_its_reason(revolut_hook):
    body, headers = revolut_hook.scheme.signed_delivery(revolut_hook.secret, timestamp=REVOLUT_NOW - 301)
    response = Client().post(revolut_hook.connection.webhook_path(), data=body, content_type="application/json",
                             headers=headers)
    assert response.status_code == 401
    assert response.json() == {"status": "refused", "detail": "Horodatage hors de la fenêtre de tolérance."}
    event = WebhookEvent.objects.get()
    assert (event.status, event.last_error, bytes(event.body)) == (
        Status.REJECTED, "Horodatage hors de la fenêtre de tolérance.", body)


def test_a_forged_delivery_is_401_kept_as_rejected_and_never_queued(hook, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = hook.post(secret="forged-secret", event_id="evt-forged")
    assert response.status_code == 401
    assert response.json() == {"status": "refused", "detail": "Signature invalide."}
    event = WebhookEvent.objects.get()
    assert (event.status, event.last_error, event.remote_addr) == (Status.REJECTED, "Signature invalide.",
                                                                   "127.0.0.1")
    assert event.provider_event_id == "" and queued_jobs() == 0


def test_a_delivery_without_its_signature_header_is_400_and_counted_without_its_body(hook):
    response = Client().post(hook.connection.webhook_path(), data=payload(), content_type="application/json",
                             headers={"X-Padding": "x" * 5000})
    assert response.status_code == 400
    assert response.json() == {"status": "refused", "detail": "En-tête Webhook-Signature absent."}
    event = WebhookEvent.objects.get()
    assert (event.status, event.last_error) == (
        WebhookEvent.Status.REJECTED, "En-tête de signature absent : Webhook-Signature")
    assert bytes(event.body) == b""
    assert len(event.headers["X-Padding"]) == 200  # what an unsigned sender may leave here is bounded
    card = next(card for card in home.connection_cards() if card.connection.pk == hook.connection.pk)
    assert card.failed_webhooks == 1


def test_unsigned_deliveries_leave_at_most_the_hourly_quota_of_rows(hook, settings):
    settings.WEBHOOK_REJECTED_MAX_PER_HOUR = 2
    answers = [Client().post(hook.connection.webhook_path(), data=payload(), content_type="application/json")
               .status_code for _ in range(4)]
    assert answers == [400, 400, 400, 400]
    assert WebhookEvent.objects.filter(status=WebhookEvent.Status.REJECTED).count() == 2


def test_a_connection_without_secret_answers_503_in_french(hook):
    bare = make_connection(hook.scheme.provider_key, [], slug="sans-secret")
    response = hook.post(path=bare.webhook_path())
    assert response.json() == {"status": "refused",
                               "detail": "Aucun secret de webhook configuré pour cette connexion."}


def test_a_known_endpoint_whose_system_is_not_installed_answers_503_not_404(hook):
    orphan = make_connection("uninstalled-system", ["s"], slug="orphan")
    response = Client().post(orphan.webhook_path(), data=payload(), content_type="application/json")
    assert response.status_code == 503
    assert response.json()["detail"] == "Système non installé sur cette console."
    unknown = Client().post(f"/hooks/uninstalled-system/{uuid.uuid4()}/", data=payload(),
                            content_type="application/json")
    assert unknown.status_code == 404
    assert unknown.json()["detail"] == "Point de réception inconnu."


def test_a_get_on_a_known_endpoint_says_it_is_alive(hook):
    response = Client().get(hook.connection.webhook_path())
    assert response.status_code == 200
    assert response.content.decode() == "Point de réception de webhooks actif.\n"
    assert response["Content-Type"] == "text/plain; charset=utf-8"


def test_the_answer_names_the_stored_event_and_its_status(hook):
    response = hook.post(event_id="evt-answer")
    event = WebhookEvent.objects.get()
    assert response.json() == {"status": event.status, "id": event.pk}
    assert response.json()["status"] in (Status.RECEIVED, Status.QUEUED)


# What is cut, and where --------------------------------------------------------------------------------------
@pytest.mark.parametrize("length", [120, 121])
def test_an_event_type_is_stored_cut_at_120_characters(hook, length):
    connection, provider = hook.connection, providers.get(hook.connection.provider)
    event = store_verified(connection, provider, EventDescription(event_type="t" * length, event_key="evt-1"),
                           body=b"{}", headers={}, remote_addr=None)
    event.refresh_from_db()
    assert event.event_type == "t" * 120


@pytest.mark.parametrize("length", [255, 256])
def test_an_event_id_is_stored_cut_at_255_characters_and_still_deduplicates(hook, length):
    connection, provider = hook.connection, providers.get(hook.connection.provider)
    key = "k" * length
    first = store_verified(connection, provider, EventDescription(event_type=HANDLED_TYPE, event_key=key),
                           body=b"{}", headers={}, remote_addr=None)
    second = store_verified(connection, provider, EventDescription(event_type=HANDLED_TYPE, event_key=key),
                            body=b"{}", headers={}, remote_addr=None)
    first.refresh_from_db()
    assert first.provider_event_id == "k" * 255
    assert (second.status, second.duplicate_of_id) == (Status.DUPLICATE, first.pk)


@pytest.mark.parametrize("length", [500, 501])
def test_a_rejection_reason_is_stored_cut_at_500_characters(hook, length):
    event = store_rejected(hook.connection, body=b"{}", headers={}, error="e" * length, remote_addr="10.0.0.1")
    event.refresh_from_db()
    assert event.last_error == "e" * 500 and event.remote_addr == "10.0.0.1"


def test_events_without_an_id_are_never_taken_for_duplicates_of_each_other(hook):
    connection, provider = hook.connection, providers.get(hook.connection.provider)
    for _ in range(2):
        store_verified(connection, provider, EventDescription(event_type=HANDLED_TYPE, event_key=""),
                       body=b"{}", headers={}, remote_addr=None)
    assert list(WebhookEvent.objects.values_list("status", flat=True)) == [Status.RECEIVED, Status.RECEIVED]


def test_the_same_event_on_two_connections_is_two_events(hook):
    provider = providers.get(hook.connection.provider)
    other = make_connection(hook.scheme.provider_key, ["s2"], slug="second")
    for connection in (hook.connection, other):
        store_verified(connection, provider, EventDescription(event_type=HANDLED_TYPE, event_key="evt-7"),
                       body=b"{}", headers={}, remote_addr=None)
    assert sorted(WebhookEvent.objects.values_list("status", flat=True)) == [Status.RECEIVED, Status.RECEIVED]


def test_a_redelivery_of_a_rejected_event_is_stored_not_marked_duplicate(hook):
    hook.post(secret="forged-secret", event_id="evt-9")
    hook.post(event_id="evt-9")
    rejected, stored = WebhookEvent.objects.order_by("pk")
    assert rejected.status == Status.REJECTED
    assert stored.status in (Status.RECEIVED, Status.QUEUED) and stored.duplicate_of_id is None


def test_the_rejected_quota_is_per_connection(hook, settings):
    settings.WEBHOOK_REJECTED_MAX_PER_HOUR = 1
    other = make_connection(hook.scheme.provider_key, ["s2"], slug="second")
    for connection in (hook.connection, hook.connection, other):
        store_rejected(connection, body=b"{}", headers={}, error="x", remote_addr=None)
    assert WebhookEvent.objects.filter(connection=hook.connection).count() == 1
    assert WebhookEvent.objects.filter(connection=other).count() == 1


# Handed to the worker only once committed ------------------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_processing_is_enqueued_only_after_the_delivery_commits(redis_connection):
    hook = registered_hook(Base64BodyScheme)
    try:
        provider = providers.get(hook.connection.provider)
        with transaction.atomic():
            event = store_verified(hook.connection, provider,
                                   EventDescription(event_type=HANDLED_TYPE, event_key="evt-commit"),
                                   body=b"{}", headers={}, remote_addr=None)
            assert queued_jobs() == 0  # a worker must not look for a row it cannot see yet
        assert queued_jobs() == 0  # the request writes no job: the dispatcher takes committed rows
        assert dispatch_received() == 1
        assert queued_jobs() == 1
        event.refresh_from_db()
        assert event.status == Status.QUEUED
    finally:
        providers.unregister(hook.scheme.provider_key)


@pytest.mark.django_db(transaction=True)
def test_a_delivery_whose_transaction_rolls_back_enqueues_nothing_and_announces_nothing(redis_connection):
    hook = registered_hook(Base64BodyScheme)
    announced = []

    def listener(sender, event=None, event_ids=(), **kwargs):
        announced.extend([event.pk] if event is not None else event_ids)

    signals.webhook_event_stored.connect(listener, sender=WebhookEvent)
    signals.webhook_events_queued.connect(listener, sender=WebhookEvent)
    try:
        provider = providers.get(hook.connection.provider)
        with pytest.raises(RuntimeError), transaction.atomic():
            store_verified(hook.connection, provider, EventDescription(event_type=HANDLED_TYPE, event_key="evt-rb"),
                           body=b"{}", headers={}, remote_addr=None)
            store_rejected(hook.connection, body=b"{}", headers={}, error="x", remote_addr=None)
            raise RuntimeError("the request failed after storing")
        assert dispatch_received() == 0
        assert queued_jobs() == 0 and announced == []
        assert not WebhookEvent.objects.exists()
        with transaction.atomic():
            stored = store_verified(hook.connection, provider,
                                    EventDescription(event_type=HANDLED_TYPE, event_key="evt-ok"),
                                    body=b"{}", headers={}, remote_addr=None)
            rejected = store_rejected(hook.connection, body=b"{}", headers={}, error="x", remote_addr=None)
            assert announced == []
        assert announced == [rejected.pk]  # the refused one at once; the one to process when it is queued
        dispatch_received()
        assert announced == [rejected.pk, stored.pk]
    finally:
        signals.webhook_event_stored.disconnect(listener, sender=WebhookEvent)
        signals.webhook_events_queued.disconnect(listener, sender=WebhookEvent)
        providers.unregister(hook.scheme.provider_key)


def test_an_ignored_event_is_announced_but_never_enqueued(hook, django_capture_on_commit_callbacks):
    provider = providers.get(hook.connection.provider)
    announced = []

    def listener(sender, event, **kwargs):
        announced.append((sender, event))

    signals.webhook_event_stored.connect(listener, sender=WebhookEvent, dispatch_uid="test-ignored")
    try:
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            event = store_verified(hook.connection, provider,
                                   EventDescription(event_type="nobody.handles", event_key="e"),
                                   body=json.dumps({}).encode(), headers={}, remote_addr=None)
    finally:
        signals.webhook_event_stored.disconnect(dispatch_uid="test-ignored", sender=WebhookEvent)
    assert event.status == Status.IGNORED and len(callbacks) == 1
    assert announced == [(WebhookEvent, event)]  # the live feed shows it at once
    dispatch_received()
    assert queued_jobs() == 0


def test_a_stored_delivery_sends_the_save_signals_the_orm_would(hook):
    """The inbox writes its row with its own INSERT; whoever listens to WebhookEvent's save signals (the request's
    log line, any later receiver) hears exactly what `WebhookEvent.objects.create()` would have told them."""
    from django.db.models.signals import post_save, pre_save

    heard = []

    def listener(signal, sender, instance, **kwargs):
        heard.append((signal, sender, instance.pk, kwargs))

    pre_save.connect(listener, sender=WebhookEvent, dispatch_uid="test-pre")
    post_save.connect(listener, sender=WebhookEvent, dispatch_uid="test-post")
    try:
        event = store_verified(hook.connection, providers.get(hook.connection.provider),
                               EventDescription(event_type=HANDLED_TYPE, event_key="evt-signals"),
                               body=b"{}", headers={}, remote_addr=None)
    finally:
        pre_save.disconnect(dispatch_uid="test-pre", sender=WebhookEvent)
        post_save.disconnect(dispatch_uid="test-post", sender=WebhookEvent)
    assert heard == [
        (pre_save, WebhookEvent, None, {"raw": False, "using": "default", "update_fields": None}),
        (post_save, WebhookEvent, event.pk, {"created": True, "update_fields": None, "raw": False,
                                             "using": "default"}),
    ]
    # The instance returned is the stored row: saving it again updates that row.
    event.last_error = "relu"
    event.save(update_fields=["last_error"])
    assert WebhookEvent.objects.get(pk=event.pk).last_error == "relu"
    assert WebhookEvent.objects.count() == 1


def test_a_delivery_keeps_its_requests_correlation_id_and_none_outside_a_request(hook):
    response = hook.post(event_id="evt-in-a-request")
    assert WebhookEvent.objects.get(pk=response.json()["id"]).correlation_id == response["X-Request-ID"]
    outside = store_verified(hook.connection, providers.get(hook.connection.provider),
                             EventDescription(event_type=HANDLED_TYPE, event_key="evt-outside"),
                             body=b"{}", headers={}, remote_addr=None)
    outside.refresh_from_db()
    assert outside.correlation_id == ""


def test_a_rejected_delivery_keeps_its_system_and_redacted_headers(hook):
    event = store_rejected(hook.connection, body=b"{}", headers={"Webhook-Signature": "forged", "User-Agent": "x"},
                           error="Signature invalide.", remote_addr=None)
    event.refresh_from_db()
    assert event.provider == hook.connection.provider
    assert event.headers["User-Agent"] == "x" and event.headers["Webhook-Signature"] != "forged"


def test_the_rejected_quota_is_per_clock_hour_and_starts_again_the_next_hour(hook, settings, monkeypatch):
    from datetime import datetime, timezone as dt_timezone

    from django.utils import timezone

    settings.WEBHOOK_REJECTED_MAX_PER_HOUR = 1
    clock = [datetime(2026, 3, 2, 10, 0, 5, tzinfo=dt_timezone.utc)]
    monkeypatch.setattr(timezone, "now", lambda: clock[0])

    def rejected():
        return store_rejected(hook.connection, body=b"{}", headers={}, error="x", remote_addr=None)

    assert rejected() is not None
    clock[0] = datetime(2026, 3, 2, 10, 59, 59, tzinfo=dt_timezone.utc)
    assert rejected() is None  # same hour: quota spent
    clock[0] = datetime(2026, 3, 2, 11, 0, 0, tzinfo=dt_timezone.utc)
    assert rejected() is not None  # a new hour
    key = f"webhooks:rejected:{hook.connection.pk}:2026030211"
    assert 3600 < django_rq.get_connection("webhooks").ttl(key) <= 3700  # counters do not pile up in Redis


def test_with_redis_down_the_quota_counts_this_connection_s_rejections_of_the_last_hour_only(hook, settings,
                                                                                           monkeypatch):
    from datetime import timedelta

    from django.utils import timezone
    from redis.exceptions import ConnectionError as RedisConnectionError

    def unreachable(*args, **kwargs):
        raise RedisConnectionError("Redis est arrêté")

    from apps.core import redis_clients

    monkeypatch.setattr(redis_clients, "for_queue", unreachable)
    settings.WEBHOOK_REJECTED_MAX_PER_HOUR = 1
    other = make_connection(hook.scheme.provider_key, ["s2"], slug="second")
    old = store_rejected(hook.connection, body=b"{}", headers={}, error="x", remote_addr=None)
    WebhookEvent.objects.filter(pk=old.pk).update(received_at=timezone.now() - timedelta(minutes=61))
    store_rejected(other, body=b"{}", headers={}, error="x", remote_addr=None)
    WebhookEvent.objects.create(connection=hook.connection, provider=hook.connection.provider, body=b"{}",
                                headers={}, status=Status.RECEIVED, provider_event_id="ok")
    assert store_rejected(hook.connection, body=b"{}", headers={}, error="x", remote_addr=None) is not None
    assert store_rejected(hook.connection, body=b"{}", headers={}, error="x", remote_addr=None) is None


def test_refusals_are_written_in_readable_utf8(hook, settings):
    settings.WEBHOOK_MAX_BODY_BYTES = 10
    response = hook.post(payload(padding="x" * 20))
    assert "Corps de requête trop volumineux.".encode() in response.content


def test_a_delivery_to_a_disabled_connection_is_kept_ignored_with_the_reason(hook):
    hook.connection.is_active = False
    hook.connection.save()
    hook.post(event_id="evt-off")
    event = WebhookEvent.objects.get()
    assert (event.status, event.last_error) == (Status.IGNORED, "Connexion désactivée : événement non traité.")


def test_a_redelivery_points_at_its_own_original_on_its_own_connection(hook):
    provider = providers.get(hook.connection.provider)
    other = make_connection(hook.scheme.provider_key, ["s2"], slug="second")

    def deliver(connection, key):
        return store_verified(connection, provider, EventDescription(event_type=HANDLED_TYPE, event_key=key),
                              body=b"{}", headers={}, remote_addr=None)

    first_here = deliver(hook.connection, "evt-8")
    first_there = deliver(other, "evt-8")
    deliver(hook.connection, "evt-7")  # a later event of the same connection: not the original
    deliver(other, "evt-7")
    again_here, again_there = deliver(hook.connection, "evt-8"), deliver(other, "evt-8")
    assert (again_here.duplicate_of_id, again_there.duplicate_of_id) == (first_here.pk, first_there.pk)
    assert (again_here.status, again_here.last_error) == (Status.DUPLICATE, "")


@pytest.mark.django_db(transaction=True)
def test_the_answer_says_received_until_the_worker_takes_it(redis_connection):
    hook = registered_hook(Base64BodyScheme)
    try:
        response = hook.post(event_id="evt-queued")
        assert response.json()["status"] == Status.RECEIVED
    finally:
        providers.unregister(hook.scheme.provider_key)


@pytest.mark.django_db
def test_the_delivery_s_insert_shows_in_the_query_log_with_its_values(hook, settings):
    # What Django's debug log, the test client's query capture and the debug toolbar read.
    from django.db import connection as db_connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(db_connection) as captured:
        response = hook.post()
    inserts = [q["sql"] for q in captured.captured_queries if 'INSERT INTO "core_webhookevent"' in q["sql"]]
    assert response.status_code == 200 and len(inserts) == 1
