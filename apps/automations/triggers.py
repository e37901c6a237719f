"""What starts a chain, wired in AutomationsConfig.ready(): the DocuSeal signature request that closes (signed or
declined) and the Revolut transaction that lands. Each receiver only schedules work after the commit of the
change it saw, so a rolled-back webhook starts nothing, and each start is idempotent (one chain per rule and
subject), so a webhook replayed from the log, or the reconciliation seeing the same state, does nothing more.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models.signals import post_save
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from apps.automations import chains
from apps.automations.models import Chain
from apps.automations.rules import is_enabled
from apps.core.models import TimelineEntry


def signature_cause(request):
    """The webhook that closed the request (the DocuSeal timeline entry keeps it), or the reconciliation."""
    entry = (TimelineEntry.objects.filter(object_id=str(request.quote_id), provider="docuseal",
                                          webhook_event__isnull=False, content_type__model="quote")
             .select_related("webhook_event").order_by("-pk").first())
    if entry is None:
        return None, _("signature DocuSeal constatée par la vérification périodique (soumission %(id)s)") % {
            "id": request.submission_id}
    event = entry.webhook_event
    return event, _("webhook DocuSeal %(type)s n° %(pk)s (soumission %(id)s)") % {
        "type": event.event_type, "pk": event.pk, "id": request.submission_id}


def signature_closed(request_id: int) -> None:
    from apps.docuseal.models import SignatureRequest

    request = SignatureRequest.objects.select_related("quote").filter(pk=request_id).first()
    if request is None:
        return
    if request.status == SignatureRequest.Status.COMPLETED:
        event, cause = signature_cause(request)
        begin = chains.start if is_enabled("quote_signed") else chains.skip
        begin("quote_signed", request.quote, cause=cause, cause_event=event)
    elif request.status == SignatureRequest.Status.DECLINED:
        event, cause = signature_cause(request)
        if not is_enabled("quote_declined"):
            chains.skip("quote_declined", request.quote, cause=cause, cause_event=event)
            return
        with transaction.atomic():
            chain, created = chains.start("quote_declined", request.quote, cause=cause, cause_event=event,
                                          status=Chain.Status.SUCCEEDED,
                                          context={"reason": request.decline_reason[:300]})
            if created:
                chains.note(request.quote,
                            gettext_noop("Devis refusé : signalé aux commerciaux sur l'accueil de la console."),
                            chain, TimelineEntry.Level.WARNING, params={})


def signature_request_saved(sender, instance, raw=False, **kwargs):
    if raw or instance.status not in ("completed", "declined"):
        return
    transaction.on_commit(lambda: signature_closed(instance.pk))


def transaction_saved(sender, instance, raw=False, **kwargs):
    if raw or instance.state != "completed" or instance.amount is None or instance.amount <= 0:
        return
    from apps.automations import matching

    transaction.on_commit(lambda: matching.consider(instance.pk))


def invoice_paid(invoice_id: int) -> None:
    from apps.core.models import Connection
    from apps.hub.models import Invoice
    from apps.mautic.actions import thanks_email_id

    invoice = Invoice.objects.filter(pk=invoice_id, status=Invoice.Status.PAID).first()
    mautic = Connection.objects.filter(provider="mautic", is_active=True).order_by("pk").first()
    if invoice is None or mautic is None or thanks_email_id(mautic) is None:
        return
    entry = (TimelineEntry.objects.filter(object_id=str(invoice.pk), content_type__model="invoice",
                                          webhook_event__isnull=False).select_related("webhook_event")
             .order_by("-pk").first())
    if entry is not None:
        cause = _("facture payée (webhook %(provider)s %(type)s n° %(pk)s)") % {
            "provider": entry.webhook_event.provider, "type": entry.webhook_event.event_type,
            "pk": entry.webhook_event.pk}
    else:
        cause = _("facture %(number)s payée") % {"number": invoice}
    begin = chains.start if is_enabled("payment_thanks") else chains.skip
    begin("payment_thanks", invoice, cause=cause, cause_event=entry.webhook_event if entry else None)


def invoice_saved(sender, instance, created=False, raw=False, **kwargs):
    # Only a payment seen happening: an invoice that arrives already paid (a first sync importing years of
    # history, whether row by row or a page at once) is history, and its client is not thanked again.
    if raw or created or instance.status != "paid":
        return
    if Chain.objects.filter(rule="payment_thanks", object_id=str(instance.pk)).exists():
        return
    transaction.on_commit(lambda: invoice_paid(instance.pk))


def connect() -> None:
    from django.apps import apps

    from apps.hub.models import Invoice

    if apps.is_installed("apps.mautic"):
        post_save.connect(invoice_saved, sender=Invoice, dispatch_uid="automations.invoice_paid")
    if apps.is_installed("apps.docuseal"):
        from apps.docuseal.models import SignatureRequest

        post_save.connect(signature_request_saved, sender=SignatureRequest, dispatch_uid="automations.signature")
    if apps.is_installed("apps.revolut"):
        from apps.revolut.models import RevolutTransaction

        post_save.connect(transaction_saved, sender=RevolutTransaction, dispatch_uid="automations.transaction")
