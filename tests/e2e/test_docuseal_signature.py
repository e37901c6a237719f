"""Journey: a quote signed through DocuSeal, clicking what sales click and what the client clicks.

Console: "Envoyer pour signature" on the demo's sent quote. DocuSeal (the sandbox's signing page): the client
signs. Console, without reloading: the quote's DocuSeal panel says "Signé" and offers the signed PDF, which
downloads from the console. Then a declined signature shows its reason, and a forged webhook is refused and
listed as rejected in the webhook log.
"""

import re
import time

import pytest
from playwright.sync_api import expect

from tests.e2e.browsing import assert_not_navigated, log_in, mark_page, run_action, step
from tests.e2e.records import staff_user

BACKGROUND_MS = 30_000
SIGNING_LINK = "Ouvrir le lien de signature"


def demo_quote():
    from apps.docuseal.demo import DEMO_QUOTE_NUMBER
    from apps.hub.models import Quote

    return Quote.objects.get(number=DEMO_QUOTE_NUMBER)


def send_for_signature(browsing, console):
    quote = demo_quote()
    user = staff_user("sacha", "view_console", "send_documents")
    page = browsing.new_page()
    log_in(page, user)
    page.goto(f"/admin/hub/quote/{quote.pk}/change/")
    run_action(page, "Envoyer pour signature", confirm=True)
    panel = page.locator(".docuseal-panel")
    link = panel.get_by_role("link", name=SIGNING_LINK)
    expect(link, "the signing link never appeared on the quote's DocuSeal panel").to_be_visible(timeout=BACKGROUND_MS)
    signing_url = link.get_attribute("href")
    assert signing_url.startswith(console.sandbox_url + "/sandbox/docuseal/s/"), signing_url
    step(page, "sent for signature")
    mark_page(page)
    signer = browsing.new_page()
    signer.goto(signing_url)
    expect(signer.locator("#form-status")).to_contain_text("En attente de votre signature")
    return page, panel, signer


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_signed_quote_shows_signed_with_its_pdf_without_reload(browsing, console, demo, tmp_path):
    page, panel, signer = send_for_signature(browsing, console)
    signer.get_by_label("Signature (tapez votre nom)").fill("Inès Garnier")
    signer.get_by_role("button", name="Signer et terminer").click()
    expect(signer.locator("#form-status")).to_contain_text("Vous avez signé")
    step(signer, "signed in docuseal")

    expect(panel.locator(".docuseal-status"), "the panel never said the quote was signed").to_have_text(
        "Signé", timeout=BACKGROUND_MS)
    download_link = panel.get_by_role("link", name=re.compile("Télécharger le PDF signé"))
    expect(download_link, "the signed PDF was never offered on the quote").to_be_visible(timeout=BACKGROUND_MS)
    assert_not_navigated(page)
    step(page, "signed and archived in the console")
    with page.expect_download() as download:
        download_link.click()
    saved = tmp_path / "signed.pdf"
    download.value.save_as(saved)
    assert saved.read_bytes().startswith(b"%PDF")
    assert demo_quote().status == "accepted"


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_declined_signature_shows_the_reason(browsing, console, demo):
    page, panel, signer = send_for_signature(browsing, console)
    signer.get_by_label("Motif du refus").fill("Le budget a été gelé")
    signer.get_by_role("button", name="Refuser de signer").click()
    expect(signer.locator("#form-status")).to_contain_text("Vous avez refusé")
    expect(panel.locator(".docuseal-status")).to_have_text("Refusé", timeout=BACKGROUND_MS)
    expect(panel.locator(".docuseal-decline-reason")).to_contain_text("Le budget a été gelé")
    assert_not_navigated(page)
    step(page, "declined with its reason")


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_forged_webhook_is_rejected_and_visible_in_the_log(browsing, console, demo):
    from apps.core.models import Connection

    connection = Connection.objects.get(provider="docuseal")
    user = staff_user("alex", "view_console", superuser=False)
    page = browsing.new_page()
    log_in(page, user)
    body = '{"event_type":"form.completed","timestamp":"2026-12-03T10:00:00Z","data":{"id":1,"submission_id":1}}'
    forged = page.request.post(console.url + connection.webhook_path(), data=body, headers={
        "Content-Type": "application/json", "X-Docuseal-Signature": f"{int(time.time())}.{'0' * 64}"})
    assert forged.status == 401, forged.text()
    page.goto("/admin/core/webhookevent/?provider=docuseal")
    row = page.locator("#result_list tbody tr").first
    expect(row).to_contain_text("Rejeté")
    step(page, "forged webhook in the log")
