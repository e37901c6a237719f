"""`manage.py webhooks replay|sweep|purge`."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from apps.core.models import WebhookEvent
from tests.core.webhook_doubles import make_connection

pytestmark = pytest.mark.django_db
Status = WebhookEvent.Status


def run(*args):
    out = StringIO()
    call_command("webhooks", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def connection():
    return make_connection("double-b64", ["s"])


def event(connection, status, **fields):
    return WebhookEvent.objects.create(connection=connection, provider=connection.provider, status=status,
                                       body=b"{}", **fields)


def test_replay_failed_requeues_only_failed_events(connection, redis_connection, django_capture_on_commit_callbacks):
    failed = [event(connection, Status.FAILED), event(connection, Status.FAILED)]
    processed = event(connection, Status.PROCESSED)
    with django_capture_on_commit_callbacks(execute=True):
        assert run("replay", "--failed") == "2 webhook(s) remis en file.\n"
    assert {e.status for e in WebhookEvent.objects.filter(pk__in=[f.pk for f in failed])} == {Status.QUEUED}
    assert WebhookEvent.objects.get(pk=processed.pk).status == Status.PROCESSED


def test_replay_ids_says_which_were_not_replayable(connection, redis_connection):
    rejected = event(connection, Status.REJECTED)
    ignored = event(connection, Status.IGNORED)
    out = run("replay", "--ids", str(rejected.pk), str(ignored.pk))
    assert out.splitlines() == [
        "1 webhook(s) remis en file.",
        "1 webhook(s) non rejoué(s) : rejetés ou doublons, jamais traités.",
    ]


def test_replay_unknown_ids_is_a_clear_error(connection):
    with pytest.raises(CommandError, match="Webhooks introuvables : 999999"):
        run("replay", "--ids", "999999")


def test_replay_needs_failed_or_ids():
    with pytest.raises(CommandError):
        run("replay")


def test_sweep_and_purge_print_their_counts(connection, redis_connection, settings):
    stuck = event(connection, Status.RECEIVED)
    old = event(connection, Status.PROCESSED)
    WebhookEvent.objects.filter(pk=stuck.pk).update(received_at=timezone.now() - timedelta(hours=1))
    WebhookEvent.objects.filter(pk=old.pk).update(
        received_at=timezone.now() - timedelta(days=settings.WEBHOOK_RETENTION_DAYS + 1))
    assert run("sweep") == "1 webhook(s) en attente remis en file.\n"
    assert run("purge") == "1 webhook(s) supprimé(s), 0 webhook(s) en échec supprimé(s).\n"
    assert not WebhookEvent.objects.filter(pk=old.pk).exists()
