"""Directus Flow deliveries: the shared security suite, the event table, the dedupe key."""

import json
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client
from django.utils import translation

from apps.core.models import Connection, WebhookEvent
from apps.directus.provider import DirectusProvider
from apps.directus.webhooks import SECRET_HEADER, trigger_keys
from tests.core.webhook_security import WebhookSecuritySuite
from tests.directus.conftest import WEBHOOK_SECRET

pytestmark = pytest.mark.django_db


class TestDirectusWebhookSecurity(WebhookSecuritySuite):
    provider_key = "directus"
    signature_headers = (SECRET_HEADER,)
    sequence = 0

    def make_connection(self, webhook_secrets):
        return Connection.objects.create(provider="directus", name="Directus", slug="directus-sec",
                                         base_url="https://directus.example.test", webhook_secrets=webhook_secrets)

    def signed_delivery(self, secret, *, timestamp=None, body=None):
        if body is not None:
            return body, {SECRET_HEADER: secret}
        TestDirectusWebhookSecurity.sequence += 1
        body = {"event": "console_contacts.items.update", "collection": "console_contacts",
                "keys": [f"contact-{self.sequence}"], "payload": {"email": f"n{self.sequence}@example.test"}}
        return json.dumps(body).encode(), {SECRET_HEADER: secret}

    def tampered_delivery(self, secret):
        # Directus signs nothing (NOTES §4.3): only the shared secret header authenticates a delivery.
        body, _headers = self.signed_delivery(secret)
        return body, {SECRET_HEADER: secret + "-forged"}


def test_event_type_is_the_items_action_whatever_the_prefix():
    provider = DirectusProvider()
    for event in ("console_quotes.items.update", "items.update", "items.items.update"):  # a collection « items »
        body = json.dumps({"event": event, "collection": "console_quotes", "keys": ["quote-1"]}).encode()
        assert provider.describe_event(body, {}, None).event_type == "items.update"
    # Not an items event: kept as Directus named it, or « unknown » without a name (both stored ignored).
    assert provider.describe_event(b'{"event": "directus_users.users.login"}', {}, None).event_type \
        == "directus_users.users.login"
    assert provider.describe_event(b'{"collection": "console_quotes"}', {}, None).event_type == "unknown"
    with pytest.raises(ValueError):
        provider.describe_event(b"[1]", {}, None)
    with pytest.raises(ValueError):
        provider.describe_event(b"not json", {}, None)


def test_keys_are_read_from_a_list_a_rendered_list_or_a_single_key():
    assert trigger_keys({"keys": ["a", "b"]}) == ["a", "b"]
    assert trigger_keys({"keys": '["a","b"]'}) == ["a", "b"]
    assert trigger_keys({"keys": "a,b"}) == ["a", "b"]
    assert trigger_keys({"key": "c"}) == ["c"]
    assert trigger_keys({"key": 7}) == ["7"]
    assert trigger_keys({"keys": ["a"], "key": "a"}) == ["a"]  # named twice, read once


def test_an_accidental_double_call_is_stored_once_and_unknown_events_are_ignored(redis_connection, settings):
    settings.PUBLIC_BASE_URL = "https://console.example.test"
    connection = Connection.objects.create(provider="directus", name="D", slug="d", webhook_secrets=[WEBHOOK_SECRET])
    body = json.dumps({"event": "console_contacts.items.update", "collection": "console_contacts",
                       "keys": ["contact-1"]})
    statuses = [Client().post(connection.webhook_path(), data=body, content_type="application/json",
                              headers={SECRET_HEADER: WEBHOOK_SECRET}).json()["status"] for _ in range(2)]
    assert statuses[1] == WebhookEvent.Status.DUPLICATE
    other = json.dumps({"event": "directus_users.users.login", "collection": "directus_users"})
    answer = Client().post(connection.webhook_path(), data=other, content_type="application/json",
                           headers={SECRET_HEADER: WEBHOOK_SECRET})
    assert answer.status_code == 200 and answer.json()["status"] == WebhookEvent.Status.IGNORED


def test_the_same_edit_a_minute_later_is_a_new_event(redis_connection, settings, monkeypatch):
    from datetime import datetime, timezone as dt_timezone

    from django.utils import timezone

    connection = Connection.objects.create(provider="directus", name="D", slug="d", webhook_secrets=[WEBHOOK_SECRET])
    body = json.dumps({"event": "console_contacts.items.update", "collection": "console_contacts",
                       "keys": ["contact-1"]})
    statuses = []
    for minute in (0, 0, 1):
        at = datetime(2026, 1, 5, 9, minute, 30, tzinfo=dt_timezone.utc)
        monkeypatch.setattr(timezone, "now", lambda at=at: at)
        statuses.append(Client().post(connection.webhook_path(), data=body, content_type="application/json",
                                      headers={SECRET_HEADER: WEBHOOK_SECRET}).json()["status"])
    assert statuses[1] == WebhookEvent.Status.DUPLICATE and statuses[2] != WebhookEvent.Status.DUPLICATE


def test_a_403_on_the_item_a_flow_names_is_said_on_the_record_in_french(connection, redis_connection):
    import responses

    from apps.core.models import TimelineEntry
    from apps.core.webhooks.processing import process_event
    from apps.hub.models import Company

    company = Company.objects.create(name="Atelier")
    body = json.dumps({"event": "console_companies.items.update", "collection": "console_companies",
                       "keys": [f"company-{company.pk}"]})
    answer = Client().post(connection.webhook_path(), data=body, content_type="application/json",
                           headers={SECRET_HEADER: WEBHOOK_SECRET})
    with responses.RequestsMock() as mocked:
        mocked.get(f"{connection.base_url}/items/console_companies/company-{company.pk}", status=403, json={
            "errors": [{"message": "You don't have permission to access this.", "extensions": {"code": "FORBIDDEN"}}]})
        assert process_event(answer.json()["id"]) == WebhookEvent.Status.PROCESSED
    entry = TimelineEntry.objects.get(object_id=str(company.pk), provider="directus")
    assert "absent de la collection « console_companies », ou non autorisé pour ce jeton" in entry.message
    with translation.override("en"):
        assert entry.text == (f"Directus: item “company-{company.pk}” is missing from the collection "
                              "“console_companies”, or this token may not read it.")


def deliver_and_process(connection, trigger: dict):
    """A Flow delivery, stored then processed with Directus unreachable: a deletion needs no read."""
    import responses

    from apps.core.webhooks.processing import process_event

    answer = Client().post(connection.webhook_path(), data=json.dumps(trigger), content_type="application/json",
                           headers={SECRET_HEADER: WEBHOOK_SECRET})
    with responses.RequestsMock():
        return process_event(answer.json()["id"]), answer.json()["id"]


def test_a_flow_naming_several_items_reads_them_in_one_request_applies_the_found_and_says_which_are_missing(
        connection, redis_connection):
    from apps.core.models import TimelineEntry
    from apps.directus import records, schema
    from apps.directus.models import MirroredItem
    from apps.hub.models import Company, Contact

    company = Company.objects.create(name="Boulangerie Martin")
    paul = Contact.objects.create(company=company, first_name="Paul", email="paul@martin.example")
    anne = Contact.objects.create(company=company, first_name="Anne", email="anne@martin.example")
    for contact in (paul, anne):
        written = records.serialize("contacts", contact)
        MirroredItem.objects.create(connection=connection, collection="contacts", item_id=written["id"],
                                    payload=written)
    edited = records.serialize("contacts", paul)
    edited["console_version"] = schema.version(schema.COLLECTIONS["contacts"], edited)
    edited["email"] = "paul.nouveau@martin.example"  # edited in Directus; Anne's item is gone
    keys = [f"contact-{paul.pk}", f"contact-{anne.pk}"]
    answer = Client().post(connection.webhook_path(), content_type="application/json",
                           data=json.dumps({"event": "console_contacts.items.update", "collection": "console_contacts",
                                            "keys": keys}), headers={SECRET_HEADER: WEBHOOK_SECRET})
    event_id = answer.json()["id"]
    import responses

    from apps.core.webhooks.processing import process_event

    with responses.RequestsMock() as mocked:
        mocked.get(f"{connection.base_url}/items/console_contacts", json={"data": [edited]})
        assert process_event(event_id) == WebhookEvent.Status.PROCESSED
        (call,) = mocked.calls
    query = parse_qs(urlsplit(call.request.url).query)
    assert json.loads(query["filter"][0]) == {"id": {"_in": keys}} and query["limit"] == ["-1"]
    paul.refresh_from_db()
    assert paul.email == "paul.nouveau@martin.example"
    applied = TimelineEntry.objects.get(object_id=str(paul.pk), provider="directus")
    assert "paul.nouveau@martin.example" in applied.message and applied.webhook_event_id == event_id
    missing = TimelineEntry.objects.get(object_id=str(anne.pk), provider="directus")
    assert missing.message == (f"Directus : Élément « contact-{anne.pk} » absent de la collection "
                               "« console_contacts », ou non autorisé pour ce jeton.")
    assert missing.level == TimelineEntry.Level.WARNING and missing.webhook_event_id == event_id


def test_a_flow_naming_one_item_reads_it_and_applies_it(connection, redis_connection):
    import responses

    from apps.core.webhooks.processing import process_event
    from apps.directus import records, schema
    from apps.directus.models import MirroredItem
    from apps.hub.models import Company, Contact

    paul = Contact.objects.create(company=Company.objects.create(name="Boulangerie Martin"), first_name="Paul",
                                  email="paul@martin.example")
    written = records.serialize("contacts", paul)
    MirroredItem.objects.create(connection=connection, collection="contacts", item_id=written["id"], payload=written)
    edited = {**written, "console_version": schema.version(schema.COLLECTIONS["contacts"], written),
              "email": "paul.nouveau@martin.example"}
    answer = Client().post(connection.webhook_path(), content_type="application/json", data=json.dumps(
        {"event": "console_contacts.items.update", "collection": "console_contacts", "key": written["id"]}),
        headers={SECRET_HEADER: WEBHOOK_SECRET})
    with responses.RequestsMock() as mocked:
        mocked.get(f"{connection.base_url}/items/console_contacts/{written['id']}", json={"data": edited})
        assert process_event(answer.json()["id"]) == WebhookEvent.Status.PROCESSED
    paul.refresh_from_db()
    assert paul.email == "paul.nouveau@martin.example"


def test_a_console_item_deleted_in_directus_is_written_again_and_said_on_its_record(connection, redis_connection):
    from apps.core.models import TimelineEntry
    from apps.directus.models import OutboxEntry
    from apps.hub.models import Company

    company = Company.objects.create(name="Atelier")
    status, event_id = deliver_and_process(connection, {"event": "console_companies.items.delete",
                                                     "collection": "console_companies",
                                                     "keys": [f"company-{company.pk}", "company-999999"]})
    assert status == WebhookEvent.Status.PROCESSED
    entry = TimelineEntry.objects.get(object_id=str(company.pk), provider="directus")
    assert "supprimé dans Directus" in entry.message and "rétabli par la console" in entry.message
    assert entry.webhook_event_id == event_id  # the record's timeline links the Flow delivery that said so
    restore = OutboxEntry.objects.get(reason=OutboxEntry.Reason.RESTORE)
    assert (restore.collection, restore.item_id) == ("companies", f"company-{company.pk}")


def test_a_deletion_in_a_collection_that_is_not_the_mirror_s_is_left_alone(connection, redis_connection):
    from apps.directus.models import OutboxEntry
    from apps.hub.models import Company

    company = Company.objects.create(name="Atelier")
    status, _event_id = deliver_and_process(connection, {"event": "articles.items.delete", "collection": "articles",
                                                      "keys": [f"company-{company.pk}"]})
    assert status == WebhookEvent.Status.PROCESSED
    assert not OutboxEntry.objects.filter(reason=OutboxEntry.Reason.RESTORE).exists()
