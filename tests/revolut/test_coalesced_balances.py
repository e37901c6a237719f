"""A burst of Revolut transaction webhooks asks Revolut for the balances a bounded number of times."""

import json

import django_rq
import pytest
from rq.registry import ScheduledJobRegistry

from apps.core.models import WebhookEvent
from apps.core.webhooks.processing import process_event
from apps.revolut import handlers, webhooks


def created(index) -> bytes:
    return json.dumps({"event": "TransactionCreated", "timestamp": "2026-03-02T10:00:00.000000Z",
                       "data": {"id": f"tx-{index}", "type": "card_payment", "state": "completed",
                                "created_at": "2026-03-02T10:00:00Z", "updated_at": "2026-03-02T10:00:00Z",
                                "legs": []}}).encode()


@pytest.mark.django_db
def test_a_burst_of_transactions_queues_two_refreshes_and_one_after_the_window(revolut, django_capture_on_commit_callbacks):
    for index in range(40):
        description = webhooks.describe_event(created(index), {}, None)
        event = WebhookEvent.objects.create(connection=revolut, provider="revolut", event_type=description.event_type,
                                            provider_event_id=description.event_key, body=created(index),
                                            status="received")
        with django_capture_on_commit_callbacks(execute=True):
            assert process_event(event.pk) == WebhookEvent.Status.PROCESSED
    queue = django_rq.get_queue("default")
    refreshes = [job for job in queue.jobs if job.func_name.endswith("refresh_connection_balances")]
    assert len(refreshes) == handlers.BALANCE_REFRESH_BURST == 2
    scheduled = ScheduledJobRegistry(queue=queue).get_job_ids()
    assert len(scheduled) == 1
    trailing = queue.fetch_job(scheduled[0])
    assert trailing.args[2].__name__ == "refresh_connection_balances" and trailing.args[3] == revolut.pk
