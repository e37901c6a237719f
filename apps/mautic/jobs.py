"""Background work of the Mautic app: contact pushes, segment upkeep, the activity reconciliation, the sync.

Mautic never retries a webhook (NOTES §4.5): `reconcile_activity` reads each dunned contact's activity
(`GET /contacts/{id}/activity`, from its high-water mark) and records what no webhook brought, through the
same keys as the handlers, so nothing is recorded twice and nothing is lost.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.core import jobs
from apps.core.http import ApiError
from apps.core.models import Connection, TimelineEntry
from apps.core.sync import sync_all
from apps.hub.models import Company, Contact
from apps.mautic import activity, contacts, segments
from apps.mautic.client import MauticClient, as_int
from apps.mautic.models import ContactLink, EmailActivity, ReminderSend

logger = logging.getLogger(__name__)
RECONCILE_WINDOW = timedelta(days=60)
# A send Mautic did not answer and whose email never shows in the contact's activity after this long did not go.
UNCONFIRMED_GIVE_UP = timedelta(minutes=30)
# Events a little older than the last read are read again: an event stored at the very end of a read
# could carry a timestamp just before it.
OVERLAP = timedelta(minutes=10)


def connections():
    return Connection.objects.filter(provider="mautic", is_active=True)


def enqueue_push(contact_id: int) -> None:
    jobs.enqueue_on_commit(push_contact, contact_id, queue="default")


def push_contact(contact_id: int) -> None:
    contact = Contact.objects.select_related("company").filter(pk=contact_id).first()
    if contact is None or not contact.email or not contact.company.is_client:
        return
    for connection in connections():
        link = contacts.link_for(connection, contact)
        if link is not None and link.mautic_id and not link.deleted_in_mautic and not link.has_local_changes():
            continue
        try:
            link = contacts.push(connection, MauticClient(connection), contact)
            segments.sync_link(connection, MauticClient(connection), link)
        except contacts.InvalidContact as exc:
            contacts.record_push_failure(connection, contact, str(exc))
        except ApiError as exc:
            contacts.record_push_failure(connection, contact, str(exc))


def sync_company_segments(company_id: int) -> None:
    company = Company.objects.filter(pk=company_id).first()
    if company is None:
        return
    for connection in connections():
        client = MauticClient(connection)
        for link in ContactLink.objects.filter(connection=connection, contact__company=company,
                                               mautic_id__isnull=False).select_related("contact__company"):
            try:
                segments.sync_link(connection, client, link)
            except ApiError as exc:
                link.last_error = str(exc)[:500]
                link.save(update_fields=["last_error"])


def sync_all_segments() -> None:
    for company_id in ContactLink.objects.filter(mautic_id__isnull=False).values_list(
            "contact__company_id", flat=True).distinct():
        sync_company_segments(company_id)


def sync_incremental() -> int:
    return sync_all(provider_key="mautic")


def _stat(event: dict) -> dict:
    extra = event.get("extra") if isinstance(event.get("extra"), dict) else {}
    return extra.get("stat") if isinstance(extra.get("stat"), dict) else {}


def record_activity_event(connection, link: ContactLink, event: dict) -> EmailActivity | None:
    """One event of the activity API, under the same key a webhook would have used (activity.py).

    Item details (`extra.stat` with `idHash`, `email_id`, `subject`; `extra.hit`; `extra.dnc`) follow
    Mautic's timeline serialisation: UNCONFIRMED field by field, hence the defensive reads.
    """
    source = EmailActivity.Source.RECONCILIATION
    kind = event.get("event")
    when = event.get("timestamp")
    stat = _stat(event)
    email_id = as_int(stat.get("email_id")) or None
    subject = str(stat.get("subject") or stat.get("name") or "")
    tracking_hash = str(stat.get("idHash") or stat.get("trackingHash") or "")
    common = {"mautic_contact_id": link.mautic_id, "source": source, "email_id": email_id, "subject": subject}
    if kind == "email.sent" and tracking_hash:
        return activity.record(connection, key=f"sent:{tracking_hash}", kind=EmailActivity.Kind.SENT,
                               occurred_at=stat.get("dateSent") or when, **common)
    if kind == "email.read" and tracking_hash:
        return activity.record(connection, key=f"opened:{tracking_hash}", kind=EmailActivity.Kind.OPENED,
                               occurred_at=stat.get("dateRead") or when, **common)
    extra = event.get("extra") if isinstance(event.get("extra"), dict) else {}
    if kind == "page.hit":
        hit = extra.get("hit") if isinstance(extra.get("hit"), dict) else {}
        email_id = as_int(hit.get("email_id") or (hit.get("sourceId") if hit.get("source") == "email" else 0)) or None
        if email_id is None:
            return None
        hit_when = hit.get("dateHit") or when
        return activity.record(connection, key=f"clicked:{link.mautic_id}:{activity.epoch(hit_when)}",
                               kind=EmailActivity.Kind.CLICKED, occurred_at=hit_when,
                               detail=str(hit.get("url") or "")[:300],
                               **{**common, "email_id": email_id})
    if kind == "lead.donotcontact":
        dnc = extra.get("dnc") if isinstance(extra.get("dnc"), dict) else {}
        status = {1: "unsubscribed", 2: "bounced"}.get(as_int(dnc.get("reason")))
        if status is None:
            return None
        kind_value = EmailActivity.Kind.UNSUBSCRIBED if status == "unsubscribed" else EmailActivity.Kind.BOUNCED
        return activity.record(connection, key=f"dnc:{link.mautic_id}:{status}:{activity.epoch(when)}",
                               kind=kind_value, occurred_at=when, **{**common, "email_id": None})
    return None


def reconcile_contact(connection, client: MauticClient, link: ContactLink) -> int:
    since = link.activity_checked_at
    started = timezone.now()
    date_from = (since - OVERLAP).astimezone(activity.UTC).strftime("%Y-%m-%d %H:%M:%S") if since else None
    recorded, page = 0, 1
    while True:
        answer = client.contact_activity(link.mautic_id, date_from=date_from, page=page)
        events = answer.get("events") if isinstance(answer.get("events"), list) else []
        for event in events:
            if isinstance(event, dict) and record_activity_event(connection, link, event) is not None:
                recorded += 1
        if page >= as_int(answer.get("maxPages"), 1) or not events:
            break
        page += 1
    ContactLink.objects.filter(pk=link.pk).update(activity_checked_at=started)
    return recorded


def reconcile_activity() -> int:
    """Periodic job: recover the email activity of contacts who received a reminder recently, then settle
    the sends Mautic never confirmed: seen in the activity -> sent (activity.record); still unseen after
    UNCONFIRMED_GIVE_UP -> failed, so the level may be sent again."""
    recorded = 0
    cutoff = timezone.now() - RECONCILE_WINDOW
    for connection in connections():
        client = MauticClient(connection)
        link_ids = ReminderSend.objects.filter(connection=connection, created_at__gte=cutoff).values_list(
            "link_id", flat=True).distinct()
        for link in ContactLink.objects.filter(pk__in=link_ids, mautic_id__isnull=False):
            try:
                recorded += reconcile_contact(connection, client, link)
            except ApiError as exc:
                logger.warning("Rattrapage de l'activité Mautic du contact %s en échec : %s", link.mautic_id, exc)
                continue
            give_up_unconfirmed(link)
    return recorded


def give_up_unconfirmed(link: ContactLink) -> None:
    stale = ReminderSend.objects.filter(link=link, status=ReminderSend.Status.SENDING,
                                        created_at__lt=timezone.now() - UNCONFIRMED_GIVE_UP,
                                        link__activity_checked_at__gt=F("created_at") + UNCONFIRMED_GIVE_UP)
    for reminder in stale.select_related("invoice"):
        reminder.status = ReminderSend.Status.FAILED
        reminder.error = _("Mautic n'a jamais confirmé cet envoi : la relance peut être envoyée de nouveau.")
        reminder.save(update_fields=["status", "error"])
        TimelineEntry.record(reminder.invoice, reminder.error, provider="mautic", level=TimelineEntry.Level.WARNING)
