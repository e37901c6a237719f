"""Every hub list and the webhook log fit a 1366-pixel-wide screen: no column pushed past the right edge.

The admin puts a list's table in a box that scrolls sideways (`.results { overflow-x: auto }`): a table too wide
does not widen the page, it hides its last columns behind that box's scrollbar. Both are measured.
"""

from decimal import Decimal

import pytest
from django.utils import timezone

from tests.e2e.browsing import log_in, step
from tests.e2e.records import staff_user

SCREEN = {"width": 1366, "height": 768}

# Widths, in pixels, of the page and of every box that scrolls sideways, against what the screen shows.
MEASURE = """() => {
  const widths = {page: [document.scrollingElement.scrollWidth, window.innerWidth]};
  document.querySelectorAll('.results, table').forEach((box, index) => {
    widths[(box.id || box.className || box.tagName) + '#' + index] = [box.scrollWidth, box.clientWidth];
  });
  return widths;
}"""


def fill_each_list():
    """One row per list, with values as long as real ones get, so the widest columns show."""
    from apps.core.models import Connection, WebhookEvent
    from apps.hub.models import Company, Contact, ExchangeRate, Invoice, Payment, Quote, SupplierBill

    company = Company.objects.create(name="Atelier de menuiserie et d'agencement Lumière & Fils SARL",
                                     email="comptabilite.fournisseurs@atelier-lumiere-et-fils.example",
                                     city="Saint-Rémy-de-Provence", is_supplier=True)
    Contact.objects.create(company=company, first_name="Marie-Hélène", last_name="de La Tour d'Auvergne",
                           email="marie-helene.delatourdauvergne@atelier-lumiere-et-fils.example")
    quote = Quote.objects.create(company=company, number="D-2026-000123", title="Agencement complet du magasin")
    invoice = Invoice.objects.create(company=company, quote=quote, number="F-2026-000456",
                                     title="Agencement complet du magasin", due_date=timezone.localdate())
    bill = SupplierBill.objects.create(supplier=company, reference="FAC-FOURNISSEUR-2026-0000789",
                                       description="Bois massif, quincaillerie et livraison", amount=Decimal("123456.78"))
    Payment.objects.create(direction=Payment.Direction.INCOMING, invoice=invoice, amount=Decimal("123456.78"),
                           source="invoiceninja", external_id="pay_0123456789abcdef0123456789abcdef")
    Payment.objects.create(direction=Payment.Direction.OUTGOING, supplier_bill=bill, amount=Decimal("999.99"),
                           source="revolut", external_id="tx_fedcba9876543210fedcba9876543210")
    ExchangeRate.objects.create(currency="GBP", rate=Decimal("1.16543210"), source="Cours de référence de la BCE")
    connection = Connection.objects.create(provider="invoiceninja", name="Invoice Ninja — Hypervisual production",
                                           slug="e2e-largeur", base_url="https://factures.example")
    WebhookEvent.objects.create(connection=connection, provider="invoiceninja", event_type="invoice.payment_received",
                                provider_event_id="evt_" + "0123456789abcdef" * 4, status=WebhookEvent.Status.REJECTED,
                                body=b"{}", last_error="En-tête de signature absent : X-Console-Webhook-Secret")


def list_paths() -> list[str]:
    from django.contrib import admin

    hub = sorted(f"/admin/hub/{model._meta.model_name}/" for model in admin.site._registry
                 if model._meta.app_label == "hub")
    return [*hub, "/admin/core/webhookevent/"]


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_every_hub_list_and_the_webhook_log_fit_1366_pixels(browsing):
    fill_each_list()
    page = browsing.new_page()
    page.set_viewport_size(SCREEN)
    log_in(page, staff_user("lea", superuser=True))

    overflowing = {}
    for path in list_paths():
        response = page.goto(path)
        assert response is not None and response.status == 200, path
        step(page, path.strip("/").replace("/", "-"))
        too_wide = {box: widths for box, widths in page.evaluate(MEASURE).items() if widths[0] > widths[1]}
        if too_wide:
            overflowing[path] = too_wide
    assert overflowing == {}, f"lists wider than the screen ([content, shown] px): {overflowing}"
