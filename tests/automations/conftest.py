"""Fixtures of the automations tests: Invoice Ninja's sandbox on the live server (its fixtures reused), a
DocuSeal connection whose webhooks are processed by the real handlers, and helpers to run the queues."""

from __future__ import annotations

import json
import secrets

import pytest
from django.contrib.auth.models import Permission, User

from apps.core import actions
from apps.core.models import ActionRun, Connection, WebhookEvent
from apps.core.webhooks import processing
from apps.docuseal.models import SignatureRequest
from apps.invoiceninja.actions import SendQuote
from tests.invoiceninja.conftest import (  # noqa: F401  (fixtures)
    company,
    no_pacing,
    quote,
    run_default_jobs,
    run_webhook_jobs,
    sandbox_connection,
    sandbox_deliveries_inline,
    staff,
)


@pytest.fixture
def docuseal(db, live_server):
    # Its API answers 404 (nothing served there): archiving the signed PDF fails and is retried later,
    # which is DocuSeal's business, not the automation's.
    return Connection.objects.create(provider="docuseal", name="DocuSeal", slug="ds",
                                     base_url=f"{live_server.url}/nowhere/docuseal",
                                     secrets={"api_key": "ds-key-0123456789abcdef"},
                                     webhook_secrets=["whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQtMTIz"])


@pytest.fixture
def admin_user(db):
    user = User.objects.create_user("direction", password="pw-direction-123", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=[
        "view_console", "switch_rule", "relaunch_chain", "match_credit", "view_bankcredit", "send_documents",
        "view_quote", "view_invoice"]))
    return User.objects.get(pk=user.pk)


def sent_for_signature(quote, staff, docuseal, submission_id=501) -> SignatureRequest:
    """The quote sent by Invoice Ninja (a real click through the sandbox), then sent for signature."""
    run, _created = actions.start(actions.get(SendQuote.key), quote, staff, secrets.token_hex(16))
    run_default_jobs()
    run.refresh_from_db()
    assert run.status == ActionRun.Status.SUCCEEDED, run.message
    run_webhook_jobs()
    return SignatureRequest.objects.create(connection=docuseal, quote=quote, submission_id=submission_id,
                                           source=SignatureRequest.Source.PDF)


def docuseal_event(docuseal, event_type: str, submission_id: int, status: str, **data) -> WebhookEvent:
    """A verified DocuSeal delivery, stored as the inbox stores it, processed by the real handler.
    submission.* carry the submission (id = submission id); form.* a submitter (submission_id beside it)."""
    if event_type.startswith("form."):
        payload = {"id": 9001, "submission_id": submission_id, "status": status, **data}
    else:
        payload = {"id": submission_id, "status": status, "submitters": [], "documents": [], **data}
    body = {"event_type": event_type, "timestamp": "2026-12-03T10:00:00Z", "data": payload}
    event = WebhookEvent.objects.create(connection=docuseal, provider="docuseal", event_type=event_type,
                                        provider_event_id=f"{event_type}:{submission_id}",
                                        body=json.dumps(body).encode(), status=WebhookEvent.Status.QUEUED)
    processing.process_event(event.pk)
    event.refresh_from_db()
    assert event.status == WebhookEvent.Status.PROCESSED, (event.last_error, event.traceback)
    return event
