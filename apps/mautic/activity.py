"""Email activity (send, open, click, bounce, unsubscribe) recorded once, on the invoice and contact timelines.

Webhooks and the reconciliation job both end here with the same key for the same real-world event, so
what a webhook delivered is not recorded again by the job, and what Mautic failed to deliver (it never
retries) is recorded by the job. Keys: `sent:<tracking hash>`, `opened:<tracking hash>`,
`clicked:<contact>:<epoch>`, `dnc:<contact>:<status>:<epoch>`.

Attribution to an invoice: the send's tokens carry the invoice number when Mautic includes them;
otherwise the latest reminder sent to that contact with that email before the event.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext_lazy

from apps.core.models import TimelineEntry
from apps.hub.models import Invoice
from apps.mautic.models import ContactLink, EmailActivity, ReminderSend

Kind = EmailActivity.Kind
# Events may arrive a little before our own ReminderSend row says "sent" (the send call is still returning).
ATTRIBUTION_SLACK = timedelta(minutes=5)


def parse_when(value) -> datetime:
    """Mautic's ISO 8601 timestamps with an offset, or `Y-m-d H:i:s` (UTC); now when unreadable."""
    if isinstance(value, datetime):
        return value if timezone.is_aware(value) else value.replace(tzinfo=UTC)
    parsed = parse_datetime(str(value or "").replace(" ", "T", 1)) if value else None
    if parsed is None:
        return timezone.now()
    return parsed if timezone.is_aware(parsed) else parsed.replace(tzinfo=UTC)


def epoch(value) -> int:
    return int(parse_when(value).timestamp())


def attribute(connection, link: ContactLink | None, email_id, occurred_at, invoice_number: str = "") -> Invoice | None:
    if invoice_number:
        invoice = Invoice.objects.filter(number=invoice_number).first()
        if invoice is not None:
            return invoice
    if link is None:
        return None
    sends = ReminderSend.objects.filter(connection=connection, link=link,
                                        created_at__lte=occurred_at + ATTRIBUTION_SLACK)
    if email_id:
        sends = sends.filter(email_id=email_id)
    latest = sends.order_by("-created_at").select_related("invoice").first()
    return latest.invoice if latest else None


MESSAGES = {
    Kind.SENT: gettext_lazy("Mautic : e-mail « %(subject)s » envoyé à %(email)s."),
    Kind.OPENED: gettext_lazy("Mautic : e-mail « %(subject)s » ouvert par %(email)s."),
    Kind.CLICKED: gettext_lazy("Mautic : lien cliqué par %(email)s dans « %(subject)s »."),
    Kind.BOUNCED: gettext_lazy("Mautic : l'adresse %(email)s est en erreur (bounce)."),
    Kind.UNSUBSCRIBED: gettext_lazy("Mautic : %(email)s s'est désinscrit des e-mails."),
}
LEVELS = {Kind.SENT: TimelineEntry.Level.SUCCESS, Kind.OPENED: TimelineEntry.Level.SUCCESS,
          Kind.CLICKED: TimelineEntry.Level.SUCCESS, Kind.BOUNCED: TimelineEntry.Level.ERROR,
          Kind.UNSUBSCRIBED: TimelineEntry.Level.WARNING}


def record(connection, *, key: str, kind: str, mautic_contact_id: int, occurred_at, source: str, email_id=None,
           subject: str = "", detail: str = "", invoice_number: str = "", webhook_event=None) -> EmailActivity | None:
    """Store one activity and put it on the timelines; None when this key was already recorded."""
    occurred_at = parse_when(occurred_at)
    link = ContactLink.objects.filter(connection=connection, mautic_id=mautic_contact_id) \
        .select_related("contact").first()
    invoice = attribute(connection, link, email_id, occurred_at, invoice_number)
    if kind in (Kind.OPENED, Kind.CLICKED):
        # Opens and clicks carry the email's template subject (tokens unfilled): show the one that was sent.
        sent = EmailActivity.objects.filter(connection=connection, kind=Kind.SENT, mautic_contact_id=mautic_contact_id,
                                            email_id=email_id or None).order_by("-occurred_at").first()
        if sent is not None and sent.subject:
            subject = sent.subject
            invoice = invoice or sent.invoice
    try:
        with transaction.atomic():
            activity = EmailActivity.objects.create(
                connection=connection, key=key[:200], kind=kind, mautic_contact_id=mautic_contact_id, link=link,
                invoice=invoice, email_id=email_id or None, subject=(subject or "")[:300], detail=detail[:500],
                occurred_at=occurred_at, source=source,
            )
    except IntegrityError:
        return None
    if kind == Kind.SENT and invoice is not None:
        # The activity API or webhook confirms a send our action could not confirm (timeout, 5xx).
        ReminderSend.objects.filter(invoice=invoice, link=link, email_id=email_id or 0,
                                    status=ReminderSend.Status.SENDING).update(
            status=ReminderSend.Status.SENT, sent_at=occurred_at)
    if link is not None:
        flags = {Kind.BOUNCED: "bounced", Kind.UNSUBSCRIBED: "unsubscribed"}
        if kind in flags:
            ContactLink.objects.filter(pk=link.pk).update(**{flags[kind]: True})
    message, params = MESSAGES[kind], {"subject": subject or gettext_lazy("(sans objet)"),
                                       "email": link.email if link else f"#{mautic_contact_id}"}
    if detail:  # Mautic's own words follow the sentence: written out once, in the writer's language
        message, params = f"{message % params} {detail}", None
    ids = {"mautic_contact_id": mautic_contact_id, "mautic_email_id": email_id, "source": source}
    for target in (invoice, link.contact if link else None):
        if target is not None:
            TimelineEntry.record(target, message, params=params, provider="mautic", level=LEVELS[kind],
                                 external_ids=ids, webhook_event=webhook_event)
    return activity
