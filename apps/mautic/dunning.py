"""Dunning rules: which reminder level an overdue invoice is due for, to whom, with which Mautic email and tokens.

Levels are 1 (first reminder), 2 (second) and 3 (final). Per connection (`Connection.config`):

    "reminder_emails": {"1": <Mautic email id>, "2": <id>, "3": <id>}
    "reminder_days":   {"1": 1, "2": 15, "3": 30}    days past the due date before each level may go

The next level is the one after the last one sent; it may go once the invoice is that many days overdue.
A level already sent is never sent again (ReminderSend is unique per invoice and level). Nothing goes
for an invoice that is paid, cancelled, not overdue, or whose dunning stopped.
"""

from __future__ import annotations

from datetime import timedelta

from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from apps.core.models import Connection
from apps.hub.models import Contact, Invoice
from apps.mautic.models import ContactLink, DunningStop, ReminderSend

LEVELS = (1, 2, 3)
DEFAULT_DAYS = {1: 1, 2: 15, 3: 30}
PAYMENT_LINK_RESOLVERS = []  # callables (invoice) -> str | None, registered by apps/automations


def level_label(level: int) -> str:
    return {1: _("1re relance"), 2: _("2e relance"), 3: _("relance finale")}.get(level, str(level))


# Whole sentences per level (not a label pasted into one): each language words its ordinals its own way.
SENT_MESSAGES = {
    1: gettext_noop("1re relance de la facture %(number)s envoyée par Mautic (« %(subject)s »)."),
    2: gettext_noop("2e relance de la facture %(number)s envoyée par Mautic (« %(subject)s »)."),
    3: gettext_noop("Relance finale de la facture %(number)s envoyée par Mautic (« %(subject)s »)."),
}


def sent_message(level: int) -> str:
    """The timeline's catalogue message for a reminder sent (params: level, number, subject)."""
    return SENT_MESSAGES.get(level, gettext_noop("Relance %(level)s de la facture %(number)s envoyée par Mautic "
                                                 "(« %(subject)s »)."))


def reminder_email_id(connection: Connection, level: int) -> int | None:
    mapping = connection.config.get("reminder_emails") or {}
    try:
        return int(mapping.get(str(level)))
    except (TypeError, ValueError):
        return None


def days_before(connection: Connection, level: int) -> int:
    configured = connection.config.get("reminder_days") or {}
    try:
        return int(configured.get(str(level), DEFAULT_DAYS[level]))
    except (TypeError, ValueError):
        return DEFAULT_DAYS[level]


def sent_levels(invoice: Invoice) -> dict[int, ReminderSend]:
    return {r.level: r for r in ReminderSend.objects.filter(invoice=invoice).exclude(status=ReminderSend.Status.FAILED)}


def next_level(invoice: Invoice) -> int | None:
    sent = sent_levels(invoice)
    for level in LEVELS:
        if level not in sent:
            return level
    return None


def recipient(invoice_or_company) -> Contact | None:
    company = getattr(invoice_or_company, "company", invoice_or_company)
    contacts = [c for c in company.contacts.all() if c.email]
    return next((c for c in contacts if c.is_primary), contacts[0] if contacts else None)


def refusal(invoice: Invoice, connection: Connection | None) -> str | None:
    """Why no reminder may go for this invoice now, in French, or None. Reads the console's own state only."""
    if invoice.status == Invoice.Status.PAID:
        return _("La facture est payée : plus de relance.")
    if invoice.status in (Invoice.Status.DRAFT, Invoice.Status.CANCELLED):
        return _("Seule une facture envoyée et impayée peut être relancée.")
    if DunningStop.objects.filter(invoice=invoice).exists():
        return _("Les relances de cette facture sont arrêtées.")
    if not invoice.is_overdue:
        return _("La facture n'est pas en retard (échéance : %(date)s).") % {
            "date": formats.date_format(invoice.due_date, "SHORT_DATE_FORMAT") if invoice.due_date else "—"}
    level = next_level(invoice)
    sent = sent_levels(invoice)
    unconfirmed = next((r for r in sent.values() if r.status == ReminderSend.Status.SENDING), None)
    if unconfirmed is not None:
        return _("La %(level)s attend la confirmation de Mautic (envoi non confirmé) : rien n'est renvoyé avant "
                 "la vérification.") % {"level": level_label(unconfirmed.level)}
    if level is None:
        return _("La relance finale a déjà été envoyée.")
    if connection is not None:
        due_on = invoice.due_date + timedelta(days=days_before(connection, level))
        if timezone.localdate() < due_on:
            previous = sent.get(level - 1)
            if previous is not None:
                return _("La %(previous)s a déjà été envoyée le %(when)s ; la %(next)s sera possible à partir du "
                         "%(date)s.") % {
                    "previous": level_label(level - 1), "next": level_label(level),
                    "when": formats.date_format(timezone.localtime(previous.sent_at or previous.created_at),
                                                "SHORT_DATE_FORMAT"),
                    "date": formats.date_format(due_on, "SHORT_DATE_FORMAT")}
            return _("La %(next)s sera possible à partir du %(date)s.") % {
                "next": level_label(level), "date": formats.date_format(due_on, "SHORT_DATE_FORMAT")}
    contact = recipient(invoice)
    if contact is None:
        return _("Le client n'a aucun contact avec une adresse e-mail.")
    if connection is not None:
        link = ContactLink.objects.filter(connection=connection, contact=contact).first()
        if link is not None and link.refusal_reason:
            return _("Envoi impossible à %(email)s : %(reason)s.") % {"email": contact.email,
                                                                      "reason": link.refusal_reason}
    return None


def payment_link(invoice: Invoice, connection: Connection) -> str:
    for resolver in PAYMENT_LINK_RESOLVERS:
        link = resolver(invoice)
        if link:
            return link
    template = connection.config.get("payment_link_template") or ""
    return template.replace("{number}", invoice.number) if template else ""


def tokens(invoice: Invoice, connection: Connection) -> dict[str, str]:
    """The reminder's tokens; Mautic wraps keys in braces when missing (NOTES §3.4): sent with them."""
    return {
        "{invoice_number}": invoice.number or f"#{invoice.pk}",
        "{amount_due}": f"{formats.number_format(invoice.balance_due, 2, use_l10n=True, force_grouping=True)} "
                        f"{invoice.currency}",
        "{due_date}": formats.date_format(invoice.due_date, "SHORT_DATE_FORMAT") if invoice.due_date else "",
        "{payment_link}": payment_link(invoice, connection),
    }


def in_dunning(invoice: Invoice) -> bool:
    """Reminders went out and the invoice is still unpaid: its contact belongs in "Relances en cours"."""
    return (invoice.status in (Invoice.Status.SENT, Invoice.Status.PARTIAL)
            and not DunningStop.objects.filter(invoice=invoice).exists()
            and ReminderSend.objects.filter(invoice=invoice, status=ReminderSend.Status.SENT).exists())
