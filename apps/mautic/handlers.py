"""One function per Mautic event type, and the entry point that walks a (possibly batched) delivery.

Each function takes (connection, payload, event) and is idempotent: activity is keyed (activity.py),
contacts are upserted by id (contacts.py). Payload shapes: NOTES §4.3 and the vendor's sample payloads.
"""

from __future__ import annotations

import logging

from django.utils.translation import gettext_lazy

from apps.core.models import WebhookEvent
from apps.mautic import activity, contacts
from apps.mautic.client import as_int
from apps.mautic.models import ContactLink, ContactMirror, EmailActivity
from apps.mautic.webhooks import parse

logger = logging.getLogger(__name__)
Kind = EmailActivity.Kind
SOURCE = EmailActivity.Source.WEBHOOK


def _email_fields(email) -> tuple[int | None, str]:
    if isinstance(email, dict):
        return as_int(email.get("id")) or None, str(email.get("subject") or email.get("name") or "")
    return None, ""


def email_on_send(connection, payload: dict, event: WebhookEvent):
    contact = payload.get("contact") if isinstance(payload.get("contact"), dict) else {}
    contact_id = as_int(contact.get("id"))
    tracking_hash = str(payload.get("idHash") or "")
    if not contact_id or not tracking_hash:
        return
    email_id, subject = _email_fields(payload.get("email"))
    tokens = payload.get("tokens") if isinstance(payload.get("tokens"), dict) else {}
    activity.record(connection, key=f"sent:{tracking_hash}", kind=Kind.SENT, mautic_contact_id=contact_id,
                    occurred_at=payload.get("timestamp"), source=SOURCE, email_id=email_id,
                    subject=str(payload.get("subject") or subject), webhook_event=event,
                    invoice_number=str(tokens.get("{invoice_number}") or ""))


def email_on_open(connection, payload: dict, event: WebhookEvent):
    stat = payload.get("stat") if isinstance(payload.get("stat"), dict) else {}
    lead = stat.get("lead") if isinstance(stat.get("lead"), dict) else {}
    contact_id = as_int(lead.get("id"))
    tracking_hash = str(stat.get("trackingHash") or "")
    if not contact_id or not tracking_hash:
        return
    email_id, subject = _email_fields(stat.get("email"))
    activity.record(connection, key=f"opened:{tracking_hash}", kind=Kind.OPENED, mautic_contact_id=contact_id,
                    occurred_at=stat.get("dateRead") or payload.get("timestamp"), source=SOURCE,
                    email_id=email_id, subject=subject, webhook_event=event)


def page_on_hit(connection, payload: dict, event: WebhookEvent):
    """A click in an email is a tracked redirect recorded as a page hit whose `email` is set (UNCONFIRMED for
    every Mautic version: older ones set only `source: "email"` and `sourceId`)."""
    hit = payload.get("hit") if isinstance(payload.get("hit"), dict) else {}
    lead = hit.get("lead") if isinstance(hit.get("lead"), dict) else {}
    contact_id = as_int(lead.get("id"))
    email_id, subject = _email_fields(hit.get("email"))
    if email_id is None and hit.get("source") == "email":
        email_id = as_int(hit.get("sourceId")) or None
    if not contact_id or email_id is None:
        return  # a visit to a landing page, not a click in an email
    when = hit.get("dateHit") or payload.get("timestamp")
    activity.record(connection, key=f"clicked:{contact_id}:{activity.epoch(when)}", kind=Kind.CLICKED,
                    mautic_contact_id=contact_id, occurred_at=when, source=SOURCE, email_id=email_id,
                    subject=subject, detail=str(hit.get("url") or "")[:300], webhook_event=event)


def lead_channel_subscription_changed(connection, payload: dict, event: WebhookEvent):
    contact = payload.get("contact") if isinstance(payload.get("contact"), dict) else {}
    contact_id = as_int(contact.get("id"))
    if not contact_id or payload.get("channel", "email") != "email":
        return
    status = str(payload.get("new_status") or "")
    when = payload.get("timestamp")
    kind = {"unsubscribed": Kind.UNSUBSCRIBED, "bounced": Kind.BOUNCED}.get(status)
    if kind is not None:
        activity.record(connection, key=f"dnc:{contact_id}:{status}:{activity.epoch(when)}", kind=kind,
                        mautic_contact_id=contact_id, occurred_at=when, source=SOURCE, webhook_event=event)
    link = ContactLink.objects.filter(connection=connection, mautic_id=contact_id).first()
    if link is not None:
        link.unsubscribed = status == "unsubscribed" or (link.unsubscribed and status != "contactable")
        link.bounced = status == "bounced" or (link.bounced and status != "contactable")
        link.do_not_contact = status != "contactable"
        link.save(update_fields=["unsubscribed", "bounced", "do_not_contact"])


def lead_post_save(connection, payload: dict, event: WebhookEvent):
    contact = payload.get("contact") if isinstance(payload.get("contact"), dict) else {}
    if not as_int(contact.get("id")):
        return
    from apps.mautic.sync import record_remote

    try:
        record_remote(connection, contact)
    except contacts.InvalidContact as exc:  # e.g. two hub contacts share the email: said on the link, not retried
        logger.warning("Contact Mautic %s non rapproché : %s", contact.get("id"), exc)


def lead_post_delete(connection, payload: dict, event: WebhookEvent):
    # `contact.id` is null in this payload (the row is gone); the top-level `id` names it.
    contact_id = as_int(payload.get("id"))
    if contact_id:
        ContactMirror.objects.filter(connection=connection, external_id=str(contact_id)).update(is_deleted=True)
        contacts.mark_deleted(connection, contact_id)


# What a person reads in the webhook log for each Mautic event type (a batch holds several).
EVENT_LABELS = {
    "mautic.email_on_send": gettext_lazy("E-mail envoyé"),
    "mautic.email_on_open": gettext_lazy("E-mail ouvert"),
    "mautic.page_on_hit": gettext_lazy("Page visitée"),
    "mautic.lead_channel_subscription_changed": gettext_lazy("Abonnement e-mail modifié"),
    "mautic.lead_post_save_new": gettext_lazy("Contact créé"),
    "mautic.lead_post_save_update": gettext_lazy("Contact modifié"),
    "mautic.lead_post_delete": gettext_lazy("Contact supprimé"),
    "mautic.batch": gettext_lazy("Lot d'événements"),
}

HANDLERS = {
    "mautic.email_on_send": email_on_send,
    "mautic.email_on_open": email_on_open,
    "mautic.page_on_hit": page_on_hit,
    "mautic.lead_channel_subscription_changed": lead_channel_subscription_changed,
    "mautic.lead_post_save_new": lead_post_save,
    "mautic.lead_post_save_update": lead_post_save,
    "mautic.lead_post_delete": lead_post_delete,
}


def handle_delivery(event: WebhookEvent) -> None:
    """Every payload of the delivery, in order; types without a handler are skipped."""
    for event_type, payload in parse(bytes(event.body)):
        handler = HANDLERS.get(event_type)
        if handler is None:
            logger.debug("Événement Mautic %s ignoré", event_type)
            continue
        handler(event.connection, payload, event)

