"""The webhook log answers an admin's questions: why a delivery was rejected, which deliveries touched an object."""

import pytest
from django.contrib.auth.models import User

from apps.core import home, providers
from apps.core.models import TimelineEntry, WebhookEvent
from apps.hub.models import Company
from tests.core.webhook_doubles import Base64BodyScheme, registered_hook

pytestmark = pytest.mark.django_db
CHANGELIST = "/admin/core/webhookevent/"


@pytest.fixture
def hook(redis_connection):
    hook = registered_hook(Base64BodyScheme)
    yield hook
    providers.unregister(hook.scheme.provider_key)


@pytest.fixture
def root(client):
    client.force_login(User.objects.create_superuser("root", password="x"))
    return client


def test_the_rejection_reason_is_a_column_of_the_list(root, hook):
    hook.post(event_id="evt-1")
    hook.post(secret="forged")
    rejected = WebhookEvent.objects.get(status=WebhookEvent.Status.REJECTED)
    assert rejected.last_error

    page = root.get(CHANGELIST).content.decode()

    assert "column-reason_column" in page and rejected.last_error[:40] in page


def test_search_by_the_vendor_object_id_shown_on_the_record(root, hook):
    hook.post(event_id="evt-7")
    hook.post(event_id="evt-8")
    first, second = WebhookEvent.objects.order_by("pk")
    company = Company.objects.create(name="Atelier Dupont")
    TimelineEntry.record(company, "Client mis à jour", external_ids={"invoiceninja_client_id": "Wpmbk5ezJn"},
                         webhook_event=first)

    listed = root.get(CHANGELIST, {"q": "wpmbk5"}).context["cl"].result_list

    assert [event.pk for event in listed] == [first.pk]


def test_a_rejected_delivery_never_becomes_the_cards_last_webhook(hook):
    hook.post(event_id="evt-9")
    hook.post(secret="forged", event_type="forged.type")

    card = next(card for card in home.connection_cards() if card.connection.pk == hook.connection.pk)

    assert card.last_webhook_type == "thing.created"


def test_event_types_read_as_words_where_people_meet_them(root):
    from apps.core import home
    from apps.core.models import Connection, WebhookEvent
    from apps.invoiceninja.provider import InvoiceNinjaProvider  # noqa: F401  (registered by the app)

    connection = Connection.objects.create(provider="invoiceninja", name="Invoice Ninja", slug="in-words")
    WebhookEvent.objects.create(connection=connection, provider="invoiceninja", event_type="sent_quote",
                                provider_event_id="k-1", status=WebhookEvent.Status.PROCESSED, body=b"{}")

    assert [row.event_label for row in home.latest_webhooks()] == ["Devis envoyé"]
    card = next(card for card in home.connection_cards() if card.connection.pk == connection.pk)
    assert card.last_webhook_type == "Devis envoyé"
    listing = root.get(CHANGELIST).content.decode()
    assert "Devis envoyé" in listing


SYSTEMS = ("invoiceninja", "revolut", "mautic", "docuseal", "erpnext", "directus")


@pytest.mark.parametrize("key", SYSTEMS)
def test_every_event_a_system_handles_reads_as_words_not_as_the_vendors_code(key):
    provider = providers.get(key)

    raw = [event_type for event_type in provider.webhook_handlers if provider.event_label(event_type) == event_type]

    assert raw == []


def test_the_list_names_systems_and_events_as_people_read_them(root):
    from apps.core.models import Connection

    connection = Connection.objects.create(provider="docuseal", name="Signature", slug="sign")
    WebhookEvent.objects.create(provider="docuseal", connection=connection, event_type="form.completed",
                                provider_event_id="form.completed:1", status=WebhookEvent.Status.PROCESSED,
                                body=b"{}", headers={})

    page = root.get(CHANGELIST).content.decode()

    assert '<td class="field-provider_column">DocuSeal</td>' in page
    assert '<td class="field-event_column">Signataire a signé</td>' in page
    assert "Signataire a signé — DocuSeal" in page  # the filter, all systems shown, names the system
