"""A draft quote sent straight for signature: Invoice Ninja records it first (numbered, marked sent, no e-mail of
its own), DocuSeal sends the signing request, and once signed the automation invoices it. Against both sandboxes
served by the live server."""

import secrets

import pytest
import requests

from apps.automations.models import Chain
from apps.core import actions
from apps.core.models import ActionRun
from apps.docuseal.models import SignatureRequest
from apps.hub.models import Invoice, Quote
from apps.invoiceninja.models import QuoteLink
from apps.invoiceninja.sandbox_state import SandboxRecord
from apps.invoiceninja.webhook_registration import register_webhooks
from tests.automations.conftest import run_default_jobs, run_webhook_jobs
from tests.docuseal.conftest import sandbox  # noqa: F401  (fixture: DocuSeal's sandbox, Pro edition)

pytestmark = pytest.mark.django_db(transaction=True)

SEND_FOR_SIGNATURE = "docuseal.send_for_signature"


def test_a_draft_quote_sent_for_signature_gets_its_number_then_is_invoiced_once_signed(
        sandbox_connection, sandbox, quote, staff, no_pacing, settings, tmp_path):  # noqa: F811
    settings.MEDIA_ROOT = str(tmp_path)
    register_webhooks(sandbox_connection)
    assert quote.status == Quote.Status.DRAFT and not quote.number
    action = actions.get(SEND_FOR_SIGNATURE)
    assert action.unavailable_reason(quote, staff) is None
    before = dict(action.confirmation_details(quote))["Avant l'envoi"]
    assert "enregistré dans Invoice Ninja" in before and "sans e-mail" in before

    run, _created = actions.start(action, quote, staff, secrets.token_hex(16))
    run_default_jobs()
    run.refresh_from_db()
    assert run.status == ActionRun.Status.SUCCEEDED, run.message
    run_webhook_jobs()

    quote.refresh_from_db()
    link = QuoteLink.objects.get(quote=quote)
    remote = SandboxRecord.objects.get(kind="quote", hashed_id=link.external_id)
    assert quote.status == Quote.Status.SENT and quote.number == remote.data["number"]
    assert remote.data["status_id"] == "2" and link.emailed_at is None  # sent there, not e-mailed by it
    request = SignatureRequest.objects.get(quote=quote)
    assert request.source == SignatureRequest.Source.PDF  # Invoice Ninja's PDF of the quote, now it has one

    signer = request.signers.get()
    answer = requests.post(signer.signing_url, data={"action": "sign", "signature": "Claire Moreau"}, timeout=20)
    assert answer.status_code == 200
    for _round in range(3):
        run_webhook_jobs()
        run_default_jobs()

    chain = Chain.objects.get(rule="quote_signed")
    assert chain.status == Chain.Status.SUCCEEDED, (chain.waiting_for, chain.last_error)
    quote.refresh_from_db()
    assert quote.status == Quote.Status.CONVERTED
    invoice = Invoice.objects.get(quote=quote)
    assert invoice.status == Invoice.Status.SENT and invoice.total == quote.total


def test_without_a_system_to_number_it_a_draft_is_not_sent_for_signature(sandbox, quote, staff):  # noqa: F811
    reason = actions.get(SEND_FOR_SIGNATURE).unavailable_reason(quote, staff)
    assert reason == "Action non applicable dans l'état actuel."
