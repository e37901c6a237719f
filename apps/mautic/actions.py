""""Envoyer relance Mautic" on an overdue invoice and on a client (the admin list gives the bulk version,
with the kernel's confirmation page listing who gets which level).

Order of work for one invoice: state and level (dunning.refusal) -> contact pushed or linked (no
duplicate: POST /contacts/new upserts by email) -> the contact re-read from Mautic and refused when
do-not-contact or unsubscribed (Mautic's single send ignores DNC, NOTES §3.4) -> the level's email read
(a missing template is said, not sent) -> a ReminderSend row claimed for (invoice, level) (unique: a double
click, a second tab or a second worker loses here) -> the send -> the row marked sent, the contact put in
"Relances en cours". A send Mautic may have performed without answering (5xx, timeout) stays `sending`:
the level is not offered again, and the reconciliation job confirms it from the activity API.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, gettext_noop

from apps.core import actions
from apps.core.actions import Action, ActionFailed, ActionOutcome
from apps.core.http import ApiError, NetworkError, ServerError
from apps.core.models import TimelineEntry
from apps.hub.models import Company, Invoice
from apps.mautic import contacts, dunning, segments
from apps.mautic.client import (ApiDisabled, BasicAuthDisabled, MauticClient, NotFound, contact_email,
                                do_not_contact_reasons)
from apps.mautic.models import ReminderSend

DNC_REASONS = {1: gettext_lazy("le contact s'est désinscrit des e-mails"),
               2: gettext_lazy("l'adresse du contact est en erreur (bounce)"),
               3: gettext_lazy("le contact est marqué « ne pas contacter »")}


def failure(exc: ApiError) -> ActionFailed:
    if isinstance(exc, (ApiDisabled, BasicAuthDisabled)):
        return ActionFailed(str(exc))
    if isinstance(exc, (NetworkError, ServerError)) and exc.maybe_sent:
        return ActionFailed(_("Mautic n'a pas confirmé l'envoi (%(error)s). La relance n'est pas proposée de nouveau "
                              "tant que le rattrapage n'a pas vérifié si elle est partie.") % {"error": exc})
    return ActionFailed(_("Mautic : %(error)s") % {"error": exc})


class MauticAction(Action):
    provider = "mautic"
    permission = "core.send_emails"

    def api(self, connection) -> MauticClient:
        return MauticClient(connection)


def send_reminder(connection, api: MauticClient, invoice: Invoice, run) -> ReminderSend:
    """Send the invoice's next reminder level once. Raises ActionFailed with a French reason."""
    invoice.refresh_from_db()
    level = dunning.next_level(invoice)
    reason = dunning.refusal(invoice, connection)
    resumed = ReminderSend.objects.filter(invoice=invoice, action_run_id=run.pk,
                                          status=ReminderSend.Status.SENDING).first() if run.pk else None
    if resumed is not None:
        level, reason = resumed.level, None
    if reason:
        raise ActionFailed(reason)
    contact = dunning.recipient(invoice)
    email_id = dunning.reminder_email_id(connection, level)
    if email_id is None:
        raise ActionFailed(_("Aucun e-mail Mautic n'est associé à la %(level)s dans la connexion « %(name)s » "
                             "(reminder_emails).") % {"level": dunning.level_label(level), "name": connection.name})
    try:
        link = contacts.ensure_linked(connection, api, contact)
        try:
            remote = api.get_contact(link.mautic_id)
        except NotFound:  # deleted (or merged away) in Mautic since the last sync: created again
            contacts.mark_deleted(connection, link.mautic_id)
            link = contacts.push(connection, api, contact)
            remote = api.get_contact(link.mautic_id)
    except contacts.InvalidContact as exc:
        raise ActionFailed(str(exc)) from None
    contacts.apply_dnc(link, remote)
    link.save(update_fields=["unsubscribed", "bounced", "do_not_contact"])
    reasons = do_not_contact_reasons(remote)
    if reasons:
        raise ActionFailed(_("Relance refusée : %(reason)s (%(email)s). Mautic l'enverrait malgré tout : la console "
                             "ne l'envoie pas.") % {"reason": DNC_REASONS.get(reasons[0], DNC_REASONS[3]),
                                                    "email": contact_email(remote) or contact.email})
    try:
        email = api.get_email(email_id)
    except NotFound:
        raise ActionFailed(_("Le modèle de la %(level)s (e-mail Mautic n° %(id)s) est introuvable dans Mautic.")
                           % {"level": dunning.level_label(level), "id": email_id}) from None
    tokens = dunning.tokens(invoice, connection)
    if resumed is None:
        try:
            with transaction.atomic():
                # A send Mautic never confirmed (given up by the reconciliation) frees its level again.
                ReminderSend.objects.filter(invoice=invoice, level=level, status=ReminderSend.Status.FAILED).delete()
                reminder = ReminderSend.objects.create(connection=connection, invoice=invoice, level=level, link=link,
                                                       email_id=email_id, action_run_id=run.pk, tokens=tokens)
        except IntegrityError:
            raise ActionFailed(_("La %(level)s de cette facture a déjà été envoyée ou est en cours d'envoi.")
                               % {"level": dunning.level_label(level)}) from None
    else:
        reminder = resumed
        if reminder.link_id != link.pk:  # its contact link was replaced since: the email goes through this one
            reminder.link = link
            reminder.save(update_fields=["link"])
    if run.pk:
        actions.save_progress(run, mautic_contact_id=link.mautic_id, mautic_email_id=email_id, reminder_level=level)
    try:
        answer = api.send_email_to_contact(email_id, link.mautic_id, tokens)
    except ApiError as exc:
        if not exc.maybe_sent:
            reminder.delete()  # certainly not sent: the level may be tried again
        else:
            ReminderSend.objects.filter(pk=reminder.pk).update(error=str(exc)[:500])
        raise failure(exc) from exc
    if not answer.get("success"):
        reminder.delete()
        raise ActionFailed(_("Mautic n'a pas envoyé l'e-mail : %(detail)s") % {"detail": answer.get("failed") or "?"})
    reminder.status = ReminderSend.Status.SENT
    reminder.sent_at = timezone.now()
    reminder.save(update_fields=["status", "sent_at"])
    TimelineEntry.record(contact, dunning.sent_message(level), params={
        "level": level, "number": invoice.number or invoice.pk,
        "subject": email.get("subject") or email.get("name") or f"#{email_id}"}, provider="mautic",
        level=TimelineEntry.Level.SUCCESS, external_ids={"mautic_email_id": email_id})
    try:
        segments.sync_link(connection, api, link)
    except ApiError as exc:  # the email went out; the segment catches up with the next segment job
        link.last_error = _("Segments non mis à jour : %(error)s") % {"error": exc}
        link.save(update_fields=["last_error"])
    return reminder


class SendInvoiceReminder(MauticAction):
    key = "mautic.send_reminder"
    label = gettext_lazy("Envoyer relance Mautic")
    model = Invoice
    confirm = gettext_lazy("Un e-mail de relance sera envoyé au client par Mautic.")

    def unavailable_reason(self, invoice, user):
        return super().unavailable_reason(invoice, user) or dunning.refusal(invoice, self.connection())

    def confirmation_details(self, invoice):
        connection = self.connection()
        level = dunning.next_level(invoice)
        contact = dunning.recipient(invoice)
        rows = [(_("Destinataire"), f"{contact} <{contact.email}>" if contact else "—"),
                (_("Niveau"), dunning.level_label(level) if level else "—"),
                (_("Montant dû"), f"{invoice.balance_due} {invoice.currency}"),
                (_("Échéance"),
                 formats.date_format(invoice.due_date, "SHORT_DATE_FORMAT") if invoice.due_date else "—")]
        if connection is not None and level:
            rows.append((_("E-mail Mautic"), f"n° {dunning.reminder_email_id(connection, level) or '—'}"))
        return rows

    def run(self, invoice, run):
        connection = self.connection()
        if connection is None:
            raise ActionFailed(_("Aucune connexion Mautic active."))
        try:
            reminder = send_reminder(connection, self.api(connection), invoice, run)
        except ApiError as exc:
            raise failure(exc) from exc
        return ActionOutcome(
            _("%(level)s envoyée à %(email)s.") % {"level": dunning.level_label(reminder.level).capitalize(),
                                                   "email": reminder.link.email},
            {"mautic_email_id": reminder.email_id, "reminder_level": reminder.level},
        )


def overdue_invoices(company: Company, connection) -> list[Invoice]:
    invoices = Invoice.objects.filter(company=company, status__in=(Invoice.Status.SENT, Invoice.Status.PARTIAL))
    return [i for i in invoices.order_by("due_date", "pk") if dunning.refusal(i, connection) is None]


class SendClientReminders(MauticAction):
    key = "mautic.send_client_reminders"
    label = gettext_lazy("Envoyer relance Mautic")
    model = Company
    confirm = gettext_lazy("Chaque facture en retard de ce client recevra sa prochaine relance par Mautic.")

    def unavailable_reason(self, company, user):
        reason = super().unavailable_reason(company, user)
        if reason:
            return reason
        if not overdue_invoices(company, self.connection()):
            return _("Aucune facture de ce client n'attend de relance.")
        return None

    def confirmation_details(self, company):
        contact = dunning.recipient(company)
        rows = [(_("Destinataire"), f"{contact} <{contact.email}>" if contact else "—")]
        for invoice in overdue_invoices(company, self.connection()):
            rows.append((_("Facture %(number)s") % {"number": invoice.number or invoice.pk},
                         f"{dunning.level_label(dunning.next_level(invoice))} — "
                         f"{invoice.balance_due} {invoice.currency}"))
        return rows

    def run(self, company, run):
        connection = self.connection()
        if connection is None:
            raise ActionFailed(_("Aucune connexion Mautic active."))
        api = self.api(connection)
        done, refused = [], []
        already = set(run.external_ids.get("invoices_done", []))
        for invoice in Invoice.objects.filter(company=company, status__in=(Invoice.Status.SENT,
                                                                           Invoice.Status.PARTIAL)):
            if invoice.pk in already:
                continue
            try:
                reminder = send_reminder(connection, api, invoice, run)
            except ActionFailed as exc:
                if invoice.is_overdue:
                    refused.append(f"{invoice.number or invoice.pk} : {exc}")
                continue
            except ApiError as exc:
                raise failure(exc) from exc
            done.append(f"{invoice.number or invoice.pk} ({dunning.level_label(reminder.level)})")
            already.add(invoice.pk)
            actions.save_progress(run, invoices_done=sorted(already))
        if not done:
            raise ActionFailed(_("Aucune relance envoyée. %(refused)s") % {"refused": " ; ".join(refused)})
        message = _("Relances envoyées : %(done)s.") % {"done": ", ".join(done)}
        if refused:
            message += " " + _("Non envoyées : %(refused)s") % {"refused": " ; ".join(refused)}
        return ActionOutcome(message)


def thanks_email_id(connection) -> int | None:
    """The Mautic email thanking a client for a payment: `Connection.config["thank_you_email"]` (optional)."""
    try:
        return int((connection.config or {}).get("thank_you_email"))
    except (TypeError, ValueError):
        return None


class SendPaymentThanks(MauticAction):
    """A thank-you email once the invoice is paid (started by the automations, or by hand)."""

    key = "mautic.send_thanks"
    label = gettext_lazy("Envoyer un remerciement Mautic")
    model = Invoice
    confirm = gettext_lazy("Un e-mail de remerciement pour le paiement sera envoyé au client par Mautic.")

    def applies_to(self, invoice):
        connection = self.connection()
        return (invoice.status == Invoice.Status.PAID and connection is not None
                and thanks_email_id(connection) is not None and dunning.recipient(invoice) is not None)

    def run(self, invoice, run):
        connection = self.connection()
        if connection is None or thanks_email_id(connection) is None:
            raise ActionFailed(_("Aucun e-mail de remerciement Mautic n'est configuré (thank_you_email)."))
        if run.external_ids.get("thanked"):
            return ActionOutcome(_("Remerciement déjà envoyé."), {})
        api = self.api(connection)
        email_id = thanks_email_id(connection)
        contact = dunning.recipient(invoice)
        try:
            link = contacts.ensure_linked(connection, api, contact)
            remote = api.get_contact(link.mautic_id)
            reasons = do_not_contact_reasons(remote)
            if reasons:
                raise ActionFailed(_("Remerciement non envoyé : %(reason)s (%(email)s).") % {
                    "reason": DNC_REASONS.get(reasons[0], DNC_REASONS[3]), "email": contact.email})
            # Mautic takes no idempotency key: a worker dying between this call and save_progress may send twice.
            answer = api.send_email_to_contact(email_id, link.mautic_id, dunning.tokens(invoice, connection))
        except contacts.InvalidContact as exc:
            raise ActionFailed(str(exc)) from None
        except ApiError as exc:
            raise failure(exc) from exc
        if not answer.get("success"):
            raise ActionFailed(_("Mautic n'a pas envoyé l'e-mail : %(detail)s") % {
                "detail": answer.get("failed") or "?"})
        actions.save_progress(run, thanked=True, mautic_email_id=email_id, mautic_contact_id=link.mautic_id)
        TimelineEntry.record(invoice, gettext_noop("Remerciement pour le paiement envoyé par Mautic à %(email)s."),
                             params={"email": contact.email}, provider="mautic", level=TimelineEntry.Level.SUCCESS,
                             external_ids={"mautic_email_id": email_id})
        return ActionOutcome(_("Remerciement envoyé à %(email)s.") % {"email": contact.email},
                             {"mautic_email_id": email_id})


ACTIONS = (SendInvoiceReminder, SendClientReminders, SendPaymentThanks)
