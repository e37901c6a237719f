"""The inbox's documented answers: what is stored, what is refused, what is queued."""

import io
import uuid

import django_rq
import pytest
from django.core.checks import run_checks
from django.core.handlers.asgi import ASGIRequest
from django.test import Client
from redis.exceptions import ConnectionError as RedisConnectionError

from apps.core import providers
from apps.core.models import WebhookEvent
from apps.core.webhooks import views
from apps.core.webhooks.checks import ID_NO_WEBHOOK_SECRET
from apps.core.webhooks.dispatch import dispatch_received
from apps.core.webhooks.redaction import MASK
from tests.core.webhook_doubles import HANDLED_TYPE, Base64BodyScheme, b64_hmac, make_connection, payload, \
    registered_hook

pytestmark = pytest.mark.django_db
Status = WebhookEvent.Status


@pytest.fixture
def hook(redis_connection):
    hook = registered_hook(Base64BodyScheme)
    yield hook
    providers.unregister(hook.scheme.provider_key)


def queued_jobs():
    return django_rq.get_queue("webhooks").count


def test_valid_handled_event_is_stored_then_queued_by_the_dispatcher(hook, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = hook.post(event_id="evt-1")
    assert response.status_code == 200
    event = WebhookEvent.objects.get()
    assert response.json() == {"status": Status.RECEIVED, "id": event.pk}
    assert (event.status, event.event_type, event.provider_event_id) == (Status.RECEIVED, HANDLED_TYPE, "evt-1")
    assert event.remote_addr == "127.0.0.1"
    assert queued_jobs() == 0
    dispatch_received()
    event.refresh_from_db()
    assert (event.status, queued_jobs()) == (Status.QUEUED, 1)


def test_unknown_event_type_is_acknowledged_and_ignored(hook, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = hook.post(event_type="thing.nobody-handles-this")
    assert response.status_code == 200
    assert WebhookEvent.objects.get().status == Status.IGNORED
    dispatch_received()
    assert queued_jobs() == 0


def test_event_named_in_the_url_is_passed_to_the_provider(hook):
    path = hook.connection.webhook_path() + HANDLED_TYPE + "/"
    response = hook.post(path=path, event_type="")
    assert response.status_code == 200
    assert WebhookEvent.objects.get().event_type == HANDLED_TYPE


def test_redelivery_is_acknowledged_marked_duplicate_and_not_queued(hook, django_capture_on_commit_callbacks):
    body = payload(event_id="evt-42")
    with django_capture_on_commit_callbacks(execute=True):
        first = hook.post(body)
        second = hook.post(body)
    assert (first.status_code, second.status_code) == (200, 200)
    original, duplicate = WebhookEvent.objects.order_by("id")
    assert second.json()["status"] == Status.DUPLICATE
    assert (duplicate.status, duplicate.duplicate_of_id) == (Status.DUPLICATE, original.pk)
    dispatch_received()
    assert queued_jobs() == 1


def test_declared_oversized_body_is_refused_before_anything_else(hook, settings):
    settings.WEBHOOK_MAX_BODY_BYTES = 100
    response = hook.post(payload(padding="x" * 200))
    assert response.status_code == 413
    unknown = Client().post(f"/hooks/nope/{uuid.uuid4()}/", data=b"x" * 200, content_type="application/json")
    assert unknown.status_code == 413
    assert not WebhookEvent.objects.exists()


def test_oversized_body_without_content_length_is_refused_on_the_bytes_read(hook, settings):
    # A chunked upload through the ASGI server carries no Content-Length: the bytes read are what count.
    settings.WEBHOOK_MAX_BODY_BYTES = 100
    body = payload(padding="x" * 200)
    path = hook.connection.webhook_path()
    scope = {"type": "http", "method": "POST", "path": path, "query_string": b"", "client": ("127.0.0.1", 5000),
             "headers": [(b"webhook-signature", b64_hmac(hook.secret, body).encode())]}
    request = ASGIRequest(scope, io.BytesIO(body))
    response = views.receive(request, provider=hook.connection.provider,
                             endpoint_id=str(hook.connection.webhook_endpoint_id))
    assert response.status_code == 413
    assert not WebhookEvent.objects.exists()


def test_unknown_endpoint_uuid_or_provider_is_404(hook):
    assert hook.post(path=f"/hooks/{hook.connection.provider}/{uuid.uuid4()}/").status_code == 404
    assert hook.post(path=f"/hooks/nope/{hook.connection.webhook_endpoint_id}/").status_code == 404
    assert hook.post(path=f"/hooks/{hook.connection.provider}/{'-' * 36}/").status_code == 404
    assert not WebhookEvent.objects.exists()


def test_connection_without_secret_answers_503_and_fails_the_system_check(hook):
    bare = make_connection(hook.scheme.provider_key, [], slug="sans-secret")
    make_connection(hook.scheme.provider_key, [], slug="inactive-sans-secret", is_active=False)
    response = hook.post(path=bare.webhook_path())
    assert response.status_code == 503
    assert not WebhookEvent.objects.exists()
    errors = [e for e in run_checks(databases=["default"]) if e.id == ID_NO_WEBHOOK_SECRET]
    assert len(errors) == 1
    assert "sans-secret" in errors[0].msg
    assert "inactive-sans-secret" not in errors[0].msg
    assert hook.connection.slug not in errors[0].msg


def test_malformed_json_is_400_and_kept_as_rejected(hook):
    response = hook.post(b'{"id": "evt-1", ')
    assert response.status_code == 400
    assert response.json()["detail"] == "JSON invalide."
    event = WebhookEvent.objects.get()
    assert (event.status, event.last_error, bytes(event.body)) == (Status.REJECTED, "JSON invalide", b'{"id": "evt-1", ')


def test_form_encoded_body_is_refused_as_invalid_json(hook):
    body = b"id=1&type=thing.created"
    response = Client().post(hook.connection.webhook_path(), data=body,
                             content_type="application/x-www-form-urlencoded",
                             headers={"Webhook-Signature": b64_hmac(hook.secret, body)})
    assert response.status_code == 400
    assert WebhookEvent.objects.get().status == Status.REJECTED


def test_rejected_deliveries_stored_are_capped_per_connection_per_hour(hook, settings):
    settings.WEBHOOK_REJECTED_MAX_PER_HOUR = 2
    answers = [hook.post(secret="forged-secret").status_code for _ in range(4)]
    assert answers == [401, 401, 401, 401]
    assert WebhookEvent.objects.filter(status=Status.REJECTED).count() == 2


def test_rejected_cap_still_holds_when_redis_is_down(hook, settings, monkeypatch):
    settings.WEBHOOK_REJECTED_MAX_PER_HOUR = 2

    def unreachable(*args, **kwargs):
        raise RedisConnectionError("Redis est arrêté")

    monkeypatch.setattr(django_rq, "get_connection", unreachable)
    assert [hook.post(secret="forged-secret").status_code for _ in range(3)] == [401, 401, 401]
    assert WebhookEvent.objects.filter(status=Status.REJECTED).count() == 2


def test_redis_down_at_delivery_still_acknowledges_and_leaves_the_row_received(
    hook, monkeypatch, django_capture_on_commit_callbacks
):
    def unreachable(*args, **kwargs):
        raise RedisConnectionError("Redis est arrêté")

    monkeypatch.setattr(django_rq, "get_queue", unreachable)
    with django_capture_on_commit_callbacks(execute=True):
        response = hook.post()
    assert response.status_code == 200
    assert WebhookEvent.objects.get().status == Status.RECEIVED


def test_secret_bearing_headers_are_masked_and_others_kept(hook):
    hook.post(headers={"X-Api-Token": "tok-123", "Authorization": "Bearer abc", "Cookie": "sessionid=1",
                       "X-Custom-Key": "k", "X-Password": "p", "User-Agent": "Mautic/5.1"})
    headers = WebhookEvent.objects.get().headers
    for name in ("X-Api-Token", "Authorization", "Cookie", "X-Custom-Key", "X-Password", "Webhook-Signature"):
        assert headers[name] == MASK
    assert headers["User-Agent"] == "Mautic/5.1"
    assert headers["Content-Type"] == "application/json"


def test_known_endpoint_never_answers_404_or_405_to_other_methods(hook):
    client = Client()
    for method in ("get", "put", "delete", "head"):
        response = getattr(client, method)(hook.connection.webhook_path())
        assert response.status_code == 200, method
    assert client.get(f"/hooks/{hook.connection.provider}/{uuid.uuid4()}/").status_code == 404


def test_inactive_connection_keeps_verified_events_as_ignored(hook, django_capture_on_commit_callbacks):
    hook.connection.is_active = False
    hook.connection.save()
    with django_capture_on_commit_callbacks(execute=True):
        response = hook.post()
    assert response.status_code == 200
    event = WebhookEvent.objects.get()
    assert event.status == Status.IGNORED
    assert "désactivée" in event.last_error
    assert queued_jobs() == 0


def test_duplicate_receipts_do_not_store_the_body_again_and_stay_countable(hook):
    body = payload(event_id="evt-replayed", padding="x" * 5000)
    for _ in range(20):
        assert hook.post(body).status_code == 200
    original = WebhookEvent.objects.exclude(status=Status.DUPLICATE).get()
    duplicates = WebhookEvent.objects.filter(status=Status.DUPLICATE)
    assert bytes(original.body) == body
    assert duplicates.count() == 19  # each receipt is still a line of the log...
    assert sum(len(bytes(d.body)) for d in duplicates) == 0  # ...without the body kept 19 more times
    assert original.duplicate_count == 19
    assert original.last_duplicate_at >= original.received_at
