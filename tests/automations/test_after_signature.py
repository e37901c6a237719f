"""After signature: DocuSeal says the quote is signed -> approved in Invoice Ninja -> converted -> invoice sent,
each step an automatic ActionRun carrying its cause; declined -> refused and shown on the console home.
Against Invoice Ninja's sandbox served by the live server."""

import pytest

from apps.automations import chains
from apps.automations.models import Chain, Rule
from apps.core.models import ActionRun, TimelineEntry, WebhookEvent
from apps.core.webhooks import processing
from apps.hub.models import Invoice, Quote
from apps.invoiceninja.client import InvoiceNinjaClient
from apps.invoiceninja.models import InvoiceLink, QuoteLink
from apps.invoiceninja.sandbox_state import SandboxRecord
from apps.invoiceninja.webhook_registration import register_webhooks
from tests.automations.conftest import docuseal_event, run_default_jobs, run_webhook_jobs, sent_for_signature

pytestmark = pytest.mark.django_db(transaction=True)


def automatic_runs():
    return ActionRun.objects.filter(idempotency_key__startswith="auto:").order_by("pk")


def test_a_signed_quote_becomes_an_invoice_sent_to_the_client_by_itself(
        sandbox_connection, docuseal, quote, staff, no_pacing):
    register_webhooks(sandbox_connection)
    sent_for_signature(quote, staff, docuseal)
    event = docuseal_event(docuseal, "submission.completed", 501, "completed")
    quote.refresh_from_db()
    assert quote.status == Quote.Status.ACCEPTED
    run_default_jobs()
    run_webhook_jobs()

    chain = Chain.objects.get(rule="quote_signed")
    assert chain.status == Chain.Status.SUCCEEDED, (chain.waiting_for, chain.last_error)
    assert chain.cause_event == event
    runs = list(automatic_runs())
    assert [r.action for r in runs] == ["invoiceninja.approve_quote", "invoiceninja.convert_quote",
                                        "invoiceninja.send_invoice"]
    assert all(r.status == ActionRun.Status.SUCCEEDED and r.user is None for r in runs)
    assert all(r.label.startswith("Automatique") and f"n° {event.pk}" in r.external_ids["cause"] for r in runs)

    invoice = Invoice.objects.get(quote=quote)
    assert invoice.status == Invoice.Status.SENT and invoice.total == quote.total
    remote_invoice = SandboxRecord.objects.get(kind="invoice", hashed_id=InvoiceLink.objects.get(invoice=invoice)
                                               .external_id)
    assert remote_invoice.data["status_id"] == "2"  # sent in Invoice Ninja
    remote_quote = SandboxRecord.objects.get(kind="quote", hashed_id=QuoteLink.objects.get(quote=quote).external_id)
    assert remote_quote.data["invoice_id"] == remote_invoice.hashed_id
    quote.refresh_from_db()
    assert quote.status == Quote.Status.CONVERTED
    # The quote's timeline says the automation ran, and why.
    entry = TimelineEntry.objects.filter(object_id=str(quote.pk), provider="automatique").first()
    assert entry.webhook_event == event and "submission.completed" in entry.message


def test_a_webhook_replayed_from_the_log_redoes_nothing(sandbox_connection, docuseal, quote, staff, no_pacing):
    register_webhooks(sandbox_connection)
    sent_for_signature(quote, staff, docuseal)
    event = docuseal_event(docuseal, "submission.completed", 501, "completed")
    run_default_jobs()
    run_webhook_jobs()
    calls_before = automatic_runs().count()
    assert calls_before == 3

    assert processing.replay(WebhookEvent.objects.filter(pk=event.pk)) == 1
    run_webhook_jobs()
    run_default_jobs()
    event.refresh_from_db()
    assert event.status == WebhookEvent.Status.PROCESSED
    assert automatic_runs().count() == calls_before
    assert Chain.objects.count() == 1
    assert Invoice.objects.filter(quote=quote).count() == 1
    assert SandboxRecord.objects.filter(kind="invoice").count() == 1


def test_a_worker_killed_mid_chain_resumes_where_it_stopped(
        sandbox_connection, docuseal, quote, staff, no_pacing, monkeypatch):
    sent_for_signature(quote, staff, docuseal)
    real_execute = chains.actions.execute

    def killed_on_convert(run_id):
        if ActionRun.objects.get(pk=run_id).action == "invoiceninja.convert_quote":
            raise SystemExit("worker killed")
        real_execute(run_id)

    monkeypatch.setattr(chains.actions, "execute", killed_on_convert)
    docuseal_event(docuseal, "submission.completed", 501, "completed")
    chain = Chain.objects.get(rule="quote_signed")
    with pytest.raises(SystemExit):
        chains.advance(chain.pk)
    chain.refresh_from_db()
    assert (chain.status, chain.step) == (Chain.Status.RUNNING, "convert")
    stuck = automatic_runs().get(action="invoiceninja.convert_quote")
    assert stuck.status == ActionRun.Status.RUNNING
    assert not Invoice.objects.exists()

    monkeypatch.setattr(chains.actions, "execute", real_execute)
    import django_rq
    django_rq.get_queue("default").empty()  # the advance queued on commit died with the worker
    from datetime import timedelta

    from django.utils import timezone
    Chain.objects.filter(pk=chain.pk).update(updated_at=timezone.now() - timedelta(minutes=5))
    assert chains.resume_due() == 1
    run_default_jobs()
    chain.refresh_from_db()
    assert chain.status == Chain.Status.SUCCEEDED, chain.last_error
    assert automatic_runs().filter(action="invoiceninja.convert_quote").count() == 1  # taken over, not redone
    assert automatic_runs().filter(action="invoiceninja.approve_quote").count() == 1
    assert Invoice.objects.filter(quote=quote).count() == 1
    assert SandboxRecord.objects.filter(kind="invoice").count() == 1


def test_invoice_ninja_down_while_converting_the_chain_waits_says_why_and_resumes(
        sandbox_connection, docuseal, quote, staff, admin_user, no_pacing, monkeypatch, client):
    sent_for_signature(quote, staff, docuseal)
    from apps.core.http import ServerError

    real_bulk = InvoiceNinjaClient.bulk

    def down_on_convert(self, entity, action, ids):
        if action == "convert_to_invoice":
            raise ServerError("503 Service Unavailable", status=503)
        return real_bulk(self, entity, action, ids)

    monkeypatch.setattr(InvoiceNinjaClient, "bulk", down_on_convert)
    docuseal_event(docuseal, "submission.completed", 501, "completed")
    run_default_jobs()
    chain = Chain.objects.get(rule="quote_signed")
    assert chain.status == Chain.Status.WAITING
    assert chain.step == "convert" and "Convertir en facture" in chain.waiting_for and "503" in chain.waiting_for
    assert chain.next_attempt_at is not None
    failed = automatic_runs().get(action="invoiceninja.convert_quote")
    assert failed.status == ActionRun.Status.FAILED
    client.force_login(admin_user)
    page = client.get("/automations/").text  # the rules page shows the wait, its reason and the failed step
    assert "En attente de" in page and "503" in page and "Automatique — Convertir en facture : Échec" in page
    record = client.get(f"/admin/hub/quote/{quote.pk}/change/").text  # the record itself says what it waits for
    assert "Devis signé → facture envoyée" in record and "en attente de" in record and "503" in record

    # Too early: nothing is tried again before the backoff delay.
    assert chains.resume_due() == 0
    monkeypatch.setattr(InvoiceNinjaClient, "bulk", real_bulk)
    Chain.objects.filter(pk=chain.pk).update(next_attempt_at=chain.created_at)
    assert chains.resume_due() == 1
    run_default_jobs()
    chain.refresh_from_db()
    assert chain.status == Chain.Status.SUCCEEDED
    assert automatic_runs().filter(action="invoiceninja.convert_quote").count() == 2  # the failure stays visible
    assert Invoice.objects.get(quote=quote).status == Invoice.Status.SENT


def test_a_chain_failing_for_good_shows_on_the_home_with_relancer(
        sandbox_connection, docuseal, quote, staff, admin_user, no_pacing, monkeypatch, client):
    sent_for_signature(quote, staff, docuseal)
    monkeypatch.setattr(chains, "MAX_ATTEMPTS", 2)
    real_bulk = InvoiceNinjaClient.bulk

    def down(self, entity, action, ids):
        if action == "convert_to_invoice":
            raise ServerError("503", status=503)
        return real_bulk(self, entity, action, ids)

    from apps.core.http import ServerError
    monkeypatch.setattr(InvoiceNinjaClient, "bulk", down)
    docuseal_event(docuseal, "submission.completed", 501, "completed")
    run_default_jobs()
    chain = Chain.objects.get()
    Chain.objects.filter(pk=chain.pk).update(next_attempt_at=chain.created_at)
    chains.resume_due()
    run_default_jobs()
    chain.refresh_from_db()
    assert chain.status == Chain.Status.FAILED and "503" in chain.last_error

    client.force_login(admin_user)
    home = client.get("/admin/")
    assert "Automatisations en échec" in home.text and "Relancer" in home.text
    monkeypatch.setattr(InvoiceNinjaClient, "bulk", real_bulk)
    client.post(f"/automations/chains/{chain.pk}/relaunch/", {"next": "/admin/"})
    run_default_jobs()
    chain.refresh_from_db()
    assert chain.status == Chain.Status.SUCCEEDED
    assert "Automatisations en échec" not in client.get("/admin/").text


def test_a_declined_signature_marks_the_quote_refused_and_sales_see_it_on_the_home(
        sandbox_connection, docuseal, quote, staff, admin_user, no_pacing, client):
    sent_for_signature(quote, staff, docuseal)
    docuseal_event(docuseal, "form.declined", 501, "declined", decline_reason="Budget reporté")
    quote.refresh_from_db()
    assert quote.status == Quote.Status.DECLINED
    assert Chain.objects.get(rule="quote_declined").status == Chain.Status.SUCCEEDED
    assert not automatic_runs().exists() and not Invoice.objects.exists()
    client.force_login(admin_user)
    home = client.get("/admin/").text
    assert "Devis refusés à la signature" in home and str(quote) in home


def test_a_rule_switched_off_by_an_admin_does_nothing(sandbox_connection, docuseal, quote, staff, admin_user,
                                                       no_pacing, client):
    sent_for_signature(quote, staff, docuseal)
    client.force_login(admin_user)
    page = client.get("/automations/")
    assert "Devis signé → facture envoyée" in page.text
    client.post("/automations/rules/quote_signed/switch/", {})  # no "enabled": switched off
    assert Rule.objects.get(key="quote_signed").enabled is False
    docuseal_event(docuseal, "submission.completed", 501, "completed")
    run_default_jobs()
    assert not automatic_runs().exists() and not Invoice.objects.exists()
    # Not forgotten: listed as ignored, on the page and on the quote's timeline; nothing to run while off.
    page = client.get("/automations/").text
    assert "désactivée" in page and "Ignorée (automatisation désactivée)" in page
    assert "Exécuter maintenant" not in page
    assert TimelineEntry.objects.filter(object_id=str(quote.pk), provider="automatique",
                                        message__contains="désactivée : rien n'a été fait").exists()
    chain = Chain.objects.get(rule="quote_signed")
    assert client.post(f"/automations/chains/{chain.pk}/run/").status_code == 302
    run_default_jobs()
    assert not automatic_runs().exists()  # refused while the rule is off ("Activez d'abord...")

    # Switched back on: told what was ignored meanwhile; nothing runs until asked.
    switched = client.post("/automations/rules/quote_signed/switch/", {"enabled": "on"}, follow=True)
    assert "1 événement arrivé pendant la désactivation a été ignoré" in switched.text
    assert "Exécuter maintenant" in switched.text
    run_default_jobs()
    assert not automatic_runs().exists()
    quote_page = client.get(quote.get_absolute_url()).text
    assert "Ignorée (automatisation désactivée)" in quote_page and "Exécuter maintenant" in quote_page
    ran = client.post(f"/automations/chains/{chain.pk}/run/", {"next": quote.get_absolute_url()})
    assert ran.status_code == 302 and ran.url == quote.get_absolute_url()  # back on the quote
    off_site = client.post(f"/automations/chains/{chain.pk}/run/", {"next": "https://ailleurs.example/"})
    assert off_site.url == "/automations/"  # a double click; never redirected off the console
    run_default_jobs()
    run_webhook_jobs()
    chain.refresh_from_db()
    assert chain.status == Chain.Status.SUCCEEDED, (chain.waiting_for, chain.last_error)
    assert automatic_runs().count() == 3 and Invoice.objects.filter(quote=quote).count() == 1


def test_running_an_ignored_chain_needs_the_permission_and_a_csrf_token(docuseal, quote, staff, admin_user):
    from django.test import Client

    chain, _created = chains.skip("quote_signed", quote, cause="webhook DocuSeal")
    salesperson = Client()
    salesperson.force_login(staff)
    assert salesperson.post(f"/automations/chains/{chain.pk}/run/").status_code == 403
    forged = Client(enforce_csrf_checks=True)
    forged.force_login(admin_user)
    assert forged.post(f"/automations/chains/{chain.pk}/run/").status_code == 403
    chain.refresh_from_db()
    assert chain.status == Chain.Status.SKIPPED


def test_switching_a_rule_needs_the_permission_and_a_csrf_token(db, staff, admin_user):
    from django.test import Client

    salesperson = Client()
    salesperson.force_login(staff)
    assert salesperson.get("/automations/").status_code == 200
    assert salesperson.post("/automations/rules/quote_signed/switch/", {}).status_code == 403
    forged = Client(enforce_csrf_checks=True)
    forged.force_login(admin_user)
    assert forged.post("/automations/rules/quote_signed/switch/", {}).status_code == 403
    assert not Rule.objects.exists()


def test_a_signature_seen_by_the_reconciliation_names_it_as_the_cause(docuseal, quote, staff, no_pacing,
                                                                      sandbox_connection):
    from django.db import transaction

    from apps.docuseal import signatures
    from apps.docuseal.models import SignatureRequest

    request = sent_for_signature(quote, staff, docuseal)
    with transaction.atomic():  # what the periodic check does when a webhook was lost
        request = SignatureRequest.objects.select_for_update().get(pk=request.pk)
        signatures.apply_submission(request, {"id": 501, "status": "completed", "submitters": []})
    chain = Chain.objects.get(rule="quote_signed")
    assert chain.cause_event is None and "vérification périodique" in chain.cause
    run_default_jobs()
    chain.refresh_from_db()
    assert chain.status == Chain.Status.SUCCEEDED


def test_a_signed_quote_never_sent_through_invoice_ninja_says_so_then_fails_for_good(
        docuseal, quote, monkeypatch):
    from apps.core.models import Connection
    from apps.docuseal.models import SignatureRequest

    Connection.objects.create(provider="invoiceninja", name="Invoice Ninja", slug="in",
                              base_url="https://in.example.test", secrets={"api_token": "tok-0123456789abcdef"},
                              webhook_secrets=["whsec-console-0123456789abcdef"])
    quote.status = Quote.Status.SENT
    quote.save()
    SignatureRequest.objects.create(connection=docuseal, quote=quote, submission_id=501,
                                    source=SignatureRequest.Source.PDF)
    monkeypatch.setattr(chains, "MAX_ATTEMPTS", 2)
    docuseal_event(docuseal, "submission.completed", 501, "completed")
    run_default_jobs()
    chain = Chain.objects.get()
    assert chain.status == Chain.Status.WAITING
    assert "Approuver le devis dans Invoice Ninja : action non applicable" in chain.waiting_for
    assert not automatic_runs().exists()  # nothing was sent to Invoice Ninja
    Chain.objects.filter(pk=chain.pk).update(next_attempt_at=chain.created_at)
    chains.resume_due()
    run_default_jobs()
    chain.refresh_from_db()
    assert chain.status == Chain.Status.FAILED and "(Accepté)" in chain.last_error
