"""A reminder Mautic confirmed sent is reported as the invoice's reminder level, so mirrors (Directus) show it."""

import pytest

from apps.core import signals
from apps.core.models import Connection
from apps.mautic.models import ReminderSend


@pytest.fixture
def reports():
    seen = []

    def receiver(sender, **kwargs):
        seen.append((sender, kwargs.get("record"), kwargs.get("reminder_level")))

    signals.integration_status_reported.connect(receiver, dispatch_uid="test-mautic-reports")
    yield seen
    signals.integration_status_reported.disconnect(dispatch_uid="test-mautic-reports")


@pytest.mark.django_db
def test_a_reminder_is_reported_once_mautic_confirms_it_not_while_it_is_being_sent(overdue, reports):
    connection = Connection.objects.create(provider="mautic", name="Mautic", slug="m-report",
                                           base_url="https://m.example.test")
    reminder = ReminderSend.objects.create(connection=connection, invoice=overdue, level=2, email_id=7)
    assert reports == []

    reminder.status = ReminderSend.Status.SENT
    reminder.save()
    assert reports == [("mautic", overdue, 2)]
