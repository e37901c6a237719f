"""Mautic webhooks: the shared security suite, the vendor's signature vector, batches and the test payload."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid

import pytest
from django.test import Client
from django.utils.dateparse import parse_datetime

from apps.core.models import Connection, WebhookEvent
from apps.core.webhooks.processing import process_event
from apps.mautic.models import EmailActivity
from apps.mautic.sandbox.delivery import php_json
from tests.core.webhook_security import WebhookSecuritySuite
from tests.mautic.conftest import CONTRACTS


def sign(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


class TestMauticWebhookSecurity(WebhookSecuritySuite):
    provider_key = "mautic"
    signature_headers = ("Webhook-Signature",)

    def make_connection(self, webhook_secrets):
        return Connection.objects.create(provider="mautic", name="Mautic", slug=f"m-{uuid.uuid4().hex[:6]}",
                                         base_url="https://mautic.example.test", webhook_secrets=webhook_secrets)

    def signed_delivery(self, secret, *, timestamp=None, body=None):
        body = body if body is not None else php_json({"mautic.lead_points_change": [
            {"contact": {"id": 52, "fields": {"all": {"website": "https://example.com/" + uuid.uuid4().hex}}},
             "points": {"old_points": 0, "new_points": 5}, "timestamp": "2024-10-01T12:00:00+00:00"}]})
        return body, {"Webhook-Signature": sign(secret, body)}


@pytest.fixture
def hook_connection(db, redis_connection):
    vectors = json.loads((CONTRACTS / "webhook-signature-vectors.json").read_text())
    return Connection.objects.create(provider="mautic", name="Mautic", slug="m", base_url="https://m.example.test",
                                     webhook_secrets=[vectors["secret"]]), vectors


def post(connection, body: bytes, signature: str):
    return Client().post(connection.webhook_path(), data=body, content_type="application/json",
                         headers={"Webhook-Signature": signature})


def test_vendor_vector_is_accepted_on_the_raw_bytes_with_escaped_slashes(hook_connection):
    connection, vectors = hook_connection
    vector = vectors["vectors"][0]
    body = vector["raw_body"].encode()
    assert b"https:\\/\\/" in body
    response = post(connection, body, vector["expected_webhook_signature"])
    assert response.status_code == 200
    event = WebhookEvent.objects.get(connection=connection)
    assert event.event_type == "mautic.lead_post_save_new"
    assert bytes(event.body) == body


def test_the_same_json_reserialised_without_escaped_slashes_is_refused(hook_connection):
    connection, vectors = hook_connection
    negative = vectors["negative_cases"][0]
    response = post(connection, negative["raw_body"].encode(), vectors["vectors"][0]["expected_webhook_signature"])
    assert response.status_code == 401
    assert WebhookEvent.objects.get(connection=connection).status == WebhookEvent.Status.REJECTED


def test_malformed_body_with_a_good_signature_is_kept_as_rejected_not_a_500(hook_connection):
    connection, vectors = hook_connection
    for body in (b"{not json", b"[1,2]", b'{"mautic.email_on_open": 3}'):
        response = post(connection, body, sign(vectors["secret"], body))
        assert response.status_code == 400
    assert WebhookEvent.objects.filter(connection=connection, status=WebhookEvent.Status.REJECTED).count() == 3


def test_send_test_payload_shape_is_tolerated(hook_connection):
    """The 'Send Test Payload' button posts objects (not lists) plus a top-level timestamp (NOTES §4.2)."""
    connection, vectors = hook_connection
    sample = json.loads((CONTRACTS / "webhook-sample-payloads" / "email_on_open.json").read_text())
    # The timestamp comes first: whatever its place, the events after it are read.
    body = php_json({"timestamp": "2024-10-01T12:00:00+00:00", "mautic.email_on_open": sample})
    assert post(connection, body, sign(vectors["secret"], body)).status_code == 200
    event = WebhookEvent.objects.get(connection=connection)
    assert event.event_type == "mautic.email_on_open"
    assert process_event(event.pk) == WebhookEvent.Status.PROCESSED
    # Contact 26 of the sample is not linked to a hub contact: recorded for Mautic's contact only.
    activity = EmailActivity.objects.get()
    assert (activity.kind, activity.mautic_contact_id, activity.key) == ("opened", 26, "opened:55dd17adace91")


def test_a_batch_of_several_types_is_one_event_and_each_payload_is_recorded_once(hook_connection):
    connection, vectors = hook_connection
    open_sample = json.loads((CONTRACTS / "webhook-sample-payloads" / "email_on_open.json").read_text())
    second = json.loads(json.dumps(open_sample))
    second["stat"]["trackingHash"] = "otherhash0001"
    body = php_json({"mautic.email_on_open": [open_sample, second],
                     "mautic.lead_points_change": [{"contact": {"id": 26}, "points": {}}]})
    assert post(connection, body, sign(vectors["secret"], body)).status_code == 200
    event = WebhookEvent.objects.get(connection=connection)
    assert event.event_type == "mautic.batch"
    process_event(event.pk)
    # The same open in a later batch (Mautic duplicates events) adds nothing.
    again = php_json({"mautic.email_on_open": [open_sample]})
    post(connection, again, sign(vectors["secret"], again))
    process_event(WebhookEvent.objects.latest("pk").pk)
    assert sorted(EmailActivity.objects.values_list("key", flat=True)) == ["opened:55dd17adace91",
                                                                           "opened:otherhash0001"]


@pytest.mark.parametrize("sample", sorted(p.name for p in (CONTRACTS / "webhook-sample-payloads").glob("*.json")))
def test_every_vendor_sample_delivered_as_mautic_does_is_processed(hook_connection, sample):
    """Real deliveries wrap each sample as `{"<type>": [ {...event..., "timestamp"} ]}` (README of the samples)."""
    connection, vectors = hook_connection
    payload = json.loads((CONTRACTS / "webhook-sample-payloads" / sample).read_text())
    events = payload if isinstance(payload, list) else [payload]
    body = php_json({f"mautic.{sample[:-5]}": [{**e, "timestamp": "2024-10-01T12:00:00+00:00"} for e in events]})
    assert post(connection, body, sign(vectors["secret"], body)).status_code == 200
    event = WebhookEvent.objects.get(connection=connection)
    if sample in ("form_on_submit.json", "lead_points_change.json"):  # events the console does not read
        assert event.status == WebhookEvent.Status.IGNORED
    else:
        assert process_event(event.pk) == WebhookEvent.Status.PROCESSED


# What each delivery leaves in the console ----------------------------------------------------------------------
WHEN = "2024-10-01T12:00:00+00:00"


def deliver(connection, vectors, events: dict) -> WebhookEvent:
    body = php_json(events)
    assert post(connection, body, sign(vectors["secret"], body)).status_code == 200
    event = WebhookEvent.objects.latest("pk")
    assert process_event(event.pk) == WebhookEvent.Status.PROCESSED
    return event


def activity_rows():
    return list(EmailActivity.objects.order_by("pk").values_list(
        "kind", "mautic_contact_id", "key", "email_id", "subject", "detail"))


def test_a_send_is_recorded_with_the_subject_actually_sent(hook_connection):
    connection, vectors = hook_connection
    deliver(connection, vectors, {"mautic.email_on_send": [
        {"contact": {"id": 26}, "idHash": "h-send-1", "email": {"id": 7, "subject": "Relance {invoice_number}"},
         "subject": "Relance F-2024-0012", "tokens": {"{invoice_number}": "F-2024-0012"}, "timestamp": WHEN},
        {"contact": {"id": 27}, "idHash": "h-send-2", "email": {"id": 8, "name": "Merci"}, "timestamp": WHEN},
        {"contact": {"id": 29}, "idHash": "h-send-4", "email": {"id": 10}, "timestamp": WHEN},  # no subject at all
        {"contact": {"id": 28}, "timestamp": WHEN},  # no tracking hash: nothing to key it on
        {"idHash": "h-send-3", "timestamp": WHEN},  # no contact
    ]})
    assert activity_rows() == [("sent", 26, "sent:h-send-1", 7, "Relance F-2024-0012", ""),
                               ("sent", 27, "sent:h-send-2", 8, "Merci", ""),
                               ("sent", 29, "sent:h-send-4", 10, "", "")]


def test_an_open_without_its_read_time_is_dated_by_the_delivery_and_linked_to_it(hook_connection):
    from apps.core.models import TimelineEntry
    from apps.hub.models import Company, Contact
    from apps.mautic.models import ContactLink

    connection, vectors = hook_connection
    contact = Contact.objects.create(company=Company.objects.create(name="Atelier"), first_name="Paul",
                                     email="paul@atelier.example")
    ContactLink.objects.create(connection=connection, contact=contact, mautic_id=26, email=contact.email)
    event = deliver(connection, vectors, {"mautic.email_on_open": [
        {"stat": {"lead": {"id": 26}, "trackingHash": "h-open-3", "email": {"id": 7}},
         "timestamp": "2024-10-04T10:15:00+00:00"}]})
    assert EmailActivity.objects.get().occurred_at == parse_datetime("2024-10-04T10:15:00+00:00")
    assert TimelineEntry.objects.get(object_id=str(contact.pk), provider="mautic").webhook_event_id == event.pk


def test_events_the_console_does_not_read_do_not_stop_the_rest_of_the_batch(hook_connection):
    connection, vectors = hook_connection
    deliver(connection, vectors, {
        "mautic.lead_points_change": [{"contact": {"id": 26}, "points": {}, "timestamp": WHEN}],
        "mautic.email_on_open": [{"stat": {"lead": {"id": 26}, "trackingHash": "h-open-4"}, "timestamp": WHEN}]})
    assert [key for _kind, _contact, key, *_rest in activity_rows()] == ["opened:h-open-4"]


def test_an_open_is_recorded_once_per_tracking_hash_at_the_time_it_was_read(hook_connection):
    connection, vectors = hook_connection
    deliver(connection, vectors, {"mautic.email_on_open": [
        {"stat": {"lead": {"id": 26}, "trackingHash": "h-open", "email": {"id": 7, "subject": "Relance"},
                  "dateRead": "2024-10-02T08:30:00+00:00"}, "timestamp": WHEN},
        {"stat": {"lead": {"id": 26}}, "timestamp": WHEN},  # no tracking hash
        {"stat": {"trackingHash": "h-open-2"}, "timestamp": WHEN},  # no contact
        {"stat": "not-an-object", "timestamp": WHEN},
    ]})
    assert activity_rows() == [("opened", 26, "opened:h-open", 7, "Relance", "")]
    assert EmailActivity.objects.get().occurred_at.isoformat() == "2024-10-02T08:30:00+00:00"


def test_a_click_in_an_email_is_recorded_but_a_landing_page_visit_is_not(hook_connection):
    connection, vectors = hook_connection
    deliver(connection, vectors, {"mautic.page_on_hit": [
        {"hit": {"lead": {"id": 26}, "email": {"id": 7, "subject": "Relance"}, "url": "https://pay.example/f-12",
                 "dateHit": "2024-10-02T09:00:00+00:00"}, "timestamp": WHEN},
        {"hit": {"lead": {"id": 27}, "source": "email", "sourceId": 8, "url": "https://pay.example/f-13",
                 "dateHit": "2024-10-02T09:05:00+00:00"}, "timestamp": WHEN},  # an older Mautic: source + sourceId
        {"hit": {"lead": {"id": 28}, "url": "https://example.com/landing"}, "timestamp": WHEN},
        {"hit": {"lead": {"id": 29}, "source": "form", "sourceId": 3, "url": "https://example.com/f"},
         "timestamp": WHEN},
    ]})
    assert activity_rows() == [
        ("clicked", 26, f"clicked:26:{int(parse_datetime('2024-10-02T09:00:00+00:00').timestamp())}", 7, "Relance",
         "https://pay.example/f-12"),
        ("clicked", 27, f"clicked:27:{int(parse_datetime('2024-10-02T09:05:00+00:00').timestamp())}", 8, "",
         "https://pay.example/f-13"),
    ]


@pytest.mark.parametrize("sequence, expected", [
    (["unsubscribed"], (True, False, True)),
    (["bounced"], (False, True, True)),
    (["unsubscribed", "bounced"], (True, True, True)),
    (["unsubscribed", "contactable"], (False, False, False)),
    (["bounced", "contactable"], (False, False, False)),
    (["manual"], (False, False, True)),
])
def test_a_contact_s_email_channel_status_follows_mautic(hook_connection, sequence, expected):
    from apps.core.models import TimelineEntry
    from apps.hub.models import Company, Contact
    from apps.mautic.models import ContactLink

    connection, vectors = hook_connection
    company = Company.objects.create(name="Atelier")
    contact = Contact.objects.create(company=company, first_name="Paul", email="paul@atelier.example")
    # Created first, so a lookup that forgot the connection or the Mautic id would find them instead.
    elsewhere = ContactLink.objects.create(
        connection=Connection.objects.create(provider="mautic", name="Mautic 2", slug="m2", base_url="https://m2.test"),
        contact=contact, mautic_id=26, email=contact.email)
    anne = ContactLink.objects.create(connection=connection, mautic_id=27, email="anne@atelier.example",
                                      contact=Contact.objects.create(company=company, first_name="Anne",
                                                                     email="anne@atelier.example"))
    link = ContactLink.objects.create(connection=connection, contact=contact, mautic_id=26, email=contact.email)
    events = []
    for minute, status in enumerate(sequence):
        change = {"contact": {"id": 26}, "old_status": "contactable", "new_status": status,
                  "timestamp": f"2024-10-01T12:0{minute}:00+00:00"}
        if minute:  # Mautic names the channel; without one, it is the email channel
            change["channel"] = "email"
        events.append(deliver(connection, vectors, {"mautic.lead_channel_subscription_changed": [
            {"contact": "not-an-object", "timestamp": WHEN}, change]}))
    link.refresh_from_db()
    assert (link.unsubscribed, link.bounced, link.do_not_contact) == expected
    for untouched in (anne, elsewhere):
        untouched.refresh_from_db()
        assert (untouched.unsubscribed, untouched.bounced, untouched.do_not_contact) == (False, False, False)
    recorded = [(kind, occurred_at.isoformat()) for kind, occurred_at in
                EmailActivity.objects.order_by("pk").values_list("kind", "occurred_at")]
    assert recorded == [(status, f"2024-10-01T12:0{minute}:00+00:00") for minute, status in enumerate(sequence)
                        if status in ("unsubscribed", "bounced")]
    linked = set(TimelineEntry.objects.filter(object_id=str(contact.pk), provider="mautic")
                 .values_list("webhook_event", flat=True))
    assert linked == {event.pk for event, status in zip(events, sequence) if status in ("unsubscribed", "bounced")}


def test_a_change_on_another_channel_leaves_the_email_status_alone(hook_connection):
    from apps.hub.models import Company, Contact
    from apps.mautic.models import ContactLink

    connection, vectors = hook_connection
    contact = Contact.objects.create(company=Company.objects.create(name="Atelier"), first_name="Paul",
                                     email="paul@atelier.example")
    link = ContactLink.objects.create(connection=connection, contact=contact, mautic_id=26, email=contact.email)
    deliver(connection, vectors, {"mautic.lead_channel_subscription_changed": [
        {"contact": {"id": 26}, "channel": "sms", "new_status": "unsubscribed", "timestamp": WHEN}]})
    link.refresh_from_db()
    assert (link.unsubscribed, link.do_not_contact) == (False, False) and activity_rows() == []


def test_a_contact_deleted_in_mautic_is_marked_so_and_will_be_created_again(hook_connection):
    from apps.hub.models import Company, Contact
    from apps.mautic.models import ContactLink, ContactMirror

    connection, vectors = hook_connection
    contact = Contact.objects.create(company=Company.objects.create(name="Atelier"), first_name="Paul",
                                     email="paul@atelier.example")
    link = ContactLink.objects.create(connection=connection, contact=contact, mautic_id=26, email=contact.email)
    other = ContactLink.objects.create(connection=connection, contact=Contact.objects.create(
        company=contact.company, first_name="Anne", email="anne@atelier.example"), mautic_id=27, email="anne@x.example")
    ContactMirror.objects.create(connection=connection, external_id="26", payload={"id": 26})
    ContactMirror.objects.create(connection=connection, external_id="27", payload={"id": 27})
    elsewhere = Connection.objects.create(provider="mautic", name="Mautic 2", slug="m2", base_url="https://m2.test")
    ContactMirror.objects.create(connection=elsewhere, external_id="26", payload={"id": 26})
    deliver(connection, vectors, {"mautic.lead_post_delete": [
        {"id": 26, "contact": {"id": None}, "timestamp": WHEN}]})
    link.refresh_from_db()
    other.refresh_from_db()
    assert link.deleted_in_mautic and "il sera recréé au prochain envoi" in link.last_error
    assert not other.deleted_in_mautic
    deleted = ContactMirror.objects.filter(is_deleted=True).values_list("connection", "external_id")
    assert list(deleted) == [(connection.pk, "26")]  # not Anne, not the same id in another Mautic


def test_a_send_naming_an_invoice_goes_on_that_invoice_and_the_contact_s_timeline_dated_by_mautic(hook_connection):
    from datetime import date

    from django.contrib.contenttypes.models import ContentType

    from apps.core.models import TimelineEntry
    from apps.hub.models import Company, Contact, Invoice
    from apps.mautic.models import ContactLink

    connection, vectors = hook_connection
    company = Company.objects.create(name="Atelier")
    contact = Contact.objects.create(company=company, first_name="Paul", email="paul@atelier.example")
    ContactLink.objects.create(connection=connection, contact=contact, mautic_id=26, email=contact.email)
    invoice = Invoice.objects.create(company=company, number="F-2024-0012", status=Invoice.Status.SENT,
                                     issue_date=date(2024, 9, 1), due_date=date(2024, 9, 30))
    event = deliver(connection, vectors, {"mautic.email_on_send": [
        {"contact": {"id": 26}, "idHash": "h-send-9", "email": {"id": 7}, "subject": "Relance F-2024-0012",
         "tokens": {"{invoice_number}": "F-2024-0012"}, "timestamp": "2024-10-03T07:45:00+00:00"}]})
    sent = EmailActivity.objects.get()
    assert sent.invoice == invoice
    assert sent.occurred_at == parse_datetime("2024-10-03T07:45:00+00:00")
    for target in (invoice, contact):
        entry = TimelineEntry.objects.get(object_id=str(target.pk), provider="mautic",
                                          content_type=ContentType.objects.get_for_model(target))
        assert entry.webhook_event_id == event.pk  # the timeline links the delivery that said so


def test_a_click_without_its_own_date_is_dated_by_the_delivery_and_odd_shapes_are_skipped(hook_connection):
    from apps.core.models import TimelineEntry
    from apps.hub.models import Company, Contact
    from apps.mautic.models import ContactLink

    connection, vectors = hook_connection
    contact = Contact.objects.create(company=Company.objects.create(name="Atelier"), first_name="Paul",
                                     email="paul@atelier.example")
    ContactLink.objects.create(connection=connection, contact=contact, mautic_id=26, email=contact.email)
    event = deliver(connection, vectors, {"mautic.page_on_hit": [
        {"hit": "not-an-object", "timestamp": WHEN},
        {"hit": {"lead": "26", "email": {"id": 7}}, "timestamp": WHEN},
        {"hit": {"lead": {"id": 26}, "email": {"id": 7}}, "timestamp": "2024-10-03T07:50:00+00:00"},
    ]})
    click = EmailActivity.objects.get()
    assert click.occurred_at == parse_datetime("2024-10-03T07:50:00+00:00")
    assert click.detail == ""  # no address to show
    entry = TimelineEntry.objects.get(object_id=str(contact.pk), provider="mautic")
    assert entry.webhook_event_id == event.pk


def test_a_clicked_address_is_shown_cut_to_300_characters(hook_connection):
    connection, vectors = hook_connection
    url = "https://pay.example/" + "x" * 400
    deliver(connection, vectors, {"mautic.page_on_hit": [
        {"hit": {"lead": {"id": 26}, "email": {"id": 7}, "url": url, "dateHit": WHEN}, "timestamp": WHEN}]})
    assert EmailActivity.objects.get().detail == url[:300]


def test_a_contact_saved_in_mautic_is_mirrored_and_one_without_id_is_skipped(hook_connection):
    from apps.mautic.models import ContactMirror

    connection, vectors = hook_connection
    sample = json.loads((CONTRACTS / "webhook-sample-payloads" / "lead_post_save_new.json").read_text())[0]
    deliver(connection, vectors, {"mautic.lead_post_save_new": [
        {**sample, "timestamp": WHEN},
        {"contact": {"id": None, "fields": {}}, "timestamp": WHEN},
        {"contact": "not-an-object", "timestamp": WHEN},
    ]})
    assert list(ContactMirror.objects.values_list("external_id", flat=True)) == [str(sample["contact"]["id"])]


@pytest.mark.parametrize("status, expected", [("unsubscribed", (True, False, True)), ("bounced", (False, True, True))])
def test_a_contact_who_leaves_again_within_the_same_second_is_out_again(hook_connection, status, expected):
    # The activity is keyed per second, so the second departure records nothing new: the status still follows.
    from apps.hub.models import Company, Contact
    from apps.mautic.models import ContactLink

    connection, vectors = hook_connection
    contact = Contact.objects.create(company=Company.objects.create(name="Atelier"), first_name="Paul",
                                     email="paul@atelier.example")
    link = ContactLink.objects.create(connection=connection, contact=contact, mautic_id=26, email=contact.email)
    for old_status, new_status in (("contactable", status), (status, "contactable"), (None, status)):
        deliver(connection, vectors, {"mautic.lead_channel_subscription_changed": [
            {"contact": {"id": 26}, "channel": "email", "old_status": old_status, "new_status": new_status,
             "timestamp": WHEN}]})
    link.refresh_from_db()
    assert (link.unsubscribed, link.bounced, link.do_not_contact) == expected


def test_the_webhook_log_names_each_mautic_event_in_french(hook_connection):
    """What an admin reads in the « événement » column of the webhook log for each delivery Mautic sends."""
    import html
    import re

    from django.contrib.auth.models import User

    connection, vectors = hook_connection
    said = {
        "mautic.email_on_send": "E-mail envoyé",
        "mautic.email_on_open": "E-mail ouvert",
        "mautic.page_on_hit": "Page visitée",
        "mautic.lead_channel_subscription_changed": "Abonnement e-mail modifié",
        "mautic.lead_post_save_new": "Contact créé",
        "mautic.lead_post_save_update": "Contact modifié",
        "mautic.lead_post_delete": "Contact supprimé",
    }
    for event_type in said:
        body = php_json({event_type: [{"timestamp": WHEN}]})
        assert post(connection, body, sign(vectors["secret"], body)).status_code == 200
    batch = php_json({"mautic.email_on_send": [{"timestamp": WHEN}], "mautic.email_on_open": [{"timestamp": WHEN}]})
    assert post(connection, batch, sign(vectors["secret"], batch)).status_code == 200
    admin = Client()
    admin.force_login(User.objects.create_superuser("root", password="x"))

    page = admin.get("/admin/core/webhookevent/", {"provider": "mautic"}).content.decode()

    shown = [html.unescape(cell) for cell in re.findall(r'<td class="field-event_column">(.*?)</td>', page)]
    assert shown == ["Lot d'événements", *reversed(said.values())]  # newest first


def test_the_same_unsubscribe_in_a_later_batch_is_recorded_once_at_the_time_mautic_gave(hook_connection,
                                                                                       monkeypatch):
    """Mautic repeats events across batches: a repeat processed a minute later adds nothing to the timeline."""
    from datetime import timedelta

    from django.utils import timezone

    connection, vectors = hook_connection
    change = {"contact": {"id": 26}, "channel": "email", "old_status": "contactable", "new_status": "unsubscribed",
              "timestamp": WHEN}
    deliver(connection, vectors, {"mautic.lead_channel_subscription_changed": [change]})
    later = timezone.now() + timedelta(minutes=1)
    monkeypatch.setattr(timezone, "now", lambda: later)
    deliver(connection, vectors, {"mautic.lead_channel_subscription_changed": [change],
                                  "mautic.lead_points_change": [{"contact": {"id": 26}, "points": {}}]})
    recorded = [(kind, occurred_at.isoformat()) for kind, occurred_at in
                EmailActivity.objects.values_list("kind", "occurred_at")]
    assert recorded == [("unsubscribed", WHEN)]
