"""The conflict rule on single items (no network): what Directus may change, what it may not, and loops."""

import pytest

from apps.core.models import TimelineEntry
from apps.directus import records, schema
from apps.directus.models import MirroredItem, OutboxEntry
from apps.directus.reconcile import RESTORE_LIMIT, reconcile_item
from apps.hub.models import Company, Contact

pytestmark = pytest.mark.django_db


@pytest.fixture
def contact(connection):
    company = Company.objects.create(name="Boulangerie Martin")
    contact = Contact.objects.create(company=company, first_name="Paul", email="paul@martin.example")
    written = records.serialize("contacts", contact)
    MirroredItem.objects.create(connection=connection, collection="contacts", item_id=written["id"], payload=written)
    return contact


def as_directus(contact, **edits):
    item = records.serialize("contacts", contact)
    item["console_version"] = schema.version(schema.COLLECTIONS["contacts"], item)
    item.update(edits)
    return item


def test_the_console_s_own_write_coming_back_changes_nothing(connection, contact):
    before = OutboxEntry.objects.count()
    assert reconcile_item(connection, "contacts", as_directus(contact)).kind == "echo"
    assert OutboxEntry.objects.count() == before


def test_an_invalid_email_is_refused_and_the_console_value_restored(connection, contact):
    outcome = reconcile_item(connection, "contacts", as_directus(contact, email="pas-une-adresse"))
    assert outcome.refused == ["email (adresse e-mail invalide)"]
    contact.refresh_from_db()
    assert contact.email == "paul@martin.example"
    assert "adresse e-mail invalide" in MirroredItem.objects.get(item_id=f"contact-{contact.pk}").note


def test_when_both_sides_changed_the_same_field_the_console_wins(connection, contact):
    contact.email = "paul.console@martin.example"
    contact.save()
    item = as_directus(contact, email="paul.directus@martin.example")
    item["console_version"] = "stale"
    outcome = reconcile_item(connection, "contacts", item)
    assert outcome.refused and "console" in outcome.refused[0]
    contact.refresh_from_db()
    assert contact.email == "paul.console@martin.example"


def test_a_value_directus_keeps_rewriting_stops_being_restored_and_says_so(connection, contact):
    for _ in range(RESTORE_LIMIT + 3):
        reconcile_item(connection, "contacts", as_directus(contact, first_name="PAUL"))
    restores = OutboxEntry.objects.filter(reason=OutboxEntry.Reason.RESTORE, item_id=f"contact-{contact.pk}")
    assert restores.count() == RESTORE_LIMIT
    assert TimelineEntry.objects.filter(object_id=str(contact.pk), level="error",
                                        message__contains="rétablissement suspendu").exists()


def test_items_that_are_not_the_console_s_are_left_alone(connection, contact):
    assert reconcile_item(connection, "contacts", {"id": "crm-77", "email": "x@y.example"}).kind == "ignored"
    assert reconcile_item(connection, "contacts", {"id": "company-1"}).kind == "ignored"
