"""The home page's to-do, before the system cards: failed actions, failed webhooks, overdue invoices.

Each block is shown only to people who may see the list it counts, with a count and a link to that list
filtered; a failed action can be relaunched from there by whoever may run it.
"""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.contenttypes.models import ContentType
from django.urls import reverse
from django.utils import timezone

from apps.core.models import ActionRun, Connection, WebhookEvent
from apps.hub.models import Company, Invoice
from tests.core.action_doubles import PaySupplier, make_user
from tests.core.action_doubles import registered_actions  # noqa: F401

pytestmark = pytest.mark.usefixtures("registered_actions")
INDEX = "/admin/"


@pytest.fixture
def failures():
    supplier = Company.objects.create(name="Imprimerie Durand", is_supplier=True)
    run = ActionRun.objects.create(
        action=PaySupplier.key, label="Payer le fournisseur", content_type=ContentType.objects.get_for_model(Company),
        object_id=str(supplier.pk), idempotency_key="k-failed", status=ActionRun.Status.FAILED,
        message="Virement refusé par la banque.", user=make_user("agathe", "pay_suppliers"))
    connection = Connection.objects.get(slug="actions-test")
    for key in ("evt-1", "evt-2"):
        WebhookEvent.objects.create(connection=connection, provider=connection.provider, event_type="thing.created",
                                    provider_event_id=key, status=WebhookEvent.Status.FAILED, body=b"{}",
                                    last_error="Client inconnu")
    WebhookEvent.objects.create(connection=connection, provider=connection.provider, provider_event_id="evt-3",
                                status=WebhookEvent.Status.PROCESSED, body=b"{}")
    today = timezone.localdate()
    client = Company.objects.create(name="Boulangerie Martin")
    Invoice.objects.create(company=client, number="FA-101", status=Invoice.Status.SENT, total=Decimal("1200.40"),
                           due_date=today - timedelta(days=12))
    Invoice.objects.create(company=client, number="FA-102", status=Invoice.Status.SENT, total=Decimal("10.00"),
                           due_date=today + timedelta(days=12))
    return run


def section(page, anchor):
    start = page.index(f'id="{anchor}"')
    return page[start:page.index("</section>", start)]


def test_the_to_do_counts_each_kind_links_to_the_filtered_list_and_comes_before_the_cards(client, failures):
    client.force_login(make_user("compta", "view_console", "pay_suppliers"))
    page = client.get(INDEX).content.decode()

    assert page.index('id="a-faire"') < page.index('class="console-cards')
    actions_block = section(page, "a-faire-actions")
    assert "1 action en échec" in actions_block
    assert f'{reverse("admin:core_actionrun_changelist")}?status__exact=failed' in actions_block
    assert "Virement refusé par la banque." in actions_block and "Imprimerie Durand" in actions_block
    assert reverse("core:action_relaunch", args=[failures.pk]) in actions_block  # pay_suppliers may relaunch

    webhooks_block = section(page, "a-faire-webhooks")
    assert "2 webhooks en échec" in webhooks_block and "Client inconnu" in webhooks_block
    assert f'{reverse("admin:core_webhookevent_changelist")}?status__exact=failed' in webhooks_block

    invoices_block = section(page, "a-faire-factures")
    assert "1 facture en retard" in invoices_block and "FA-101" in invoices_block and "FA-102" not in invoices_block
    assert f'{reverse("admin:hub_invoice_changelist")}?en_retard=oui' in invoices_block
    assert "Boulangerie Martin" in invoices_block and "1\u202f200,40\xa0€" in invoices_block


def test_relaunch_is_offered_only_to_people_who_may_run_the_action(client, failures):
    client.force_login(make_user("lecture", "view_console"))
    page = client.get(INDEX).content.decode()
    assert "1 action en échec" in section(page, "a-faire-actions")
    assert reverse("core:action_relaunch", args=[failures.pk]) not in page


def test_each_block_shows_only_for_people_who_may_see_its_list(client, failures):
    client.force_login(make_user("fournisseurs", "pay_suppliers"))  # bills and companies, no log, no invoices
    page = client.get(INDEX).content.decode()
    assert "en échec" not in page and "en retard" not in page and 'id="a-faire"' not in page


def test_nothing_to_do_means_no_to_do_block(client, registered_actions):  # noqa: F811
    client.force_login(make_user("compta", "view_console"))
    assert 'id="a-faire"' not in client.get(INDEX).content.decode()
