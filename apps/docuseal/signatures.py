"""Applying what DocuSeal says about a submission to the console: signers' statuses, the request's
status, the quote's status, timeline entries and the live panel. Webhook handlers, the reconciliation
job and the actions all go through here, so a webhook replayed, a poll after a lost webhook or a late
`form.viewed` after the signature changes nothing twice: a status never goes back, and each change
writes one timeline entry.
"""

from __future__ import annotations

from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext_lazy, gettext_noop

from apps.core import signals
from apps.core.models import TimelineEntry
from apps.docuseal import panels
from apps.docuseal.models import SignatureRequest, Signer
from apps.hub.models import Quote

PROVIDER = "docuseal"
Level = TimelineEntry.Level

SIGNER_MESSAGES = {
    Signer.Status.SENT: (Level.INFO, gettext_noop("Demande de signature envoyée à %(who)s.")),
    Signer.Status.OPENED: (Level.INFO, gettext_noop("%(who)s a ouvert la demande de signature.")),
    Signer.Status.STARTED: (Level.INFO, gettext_noop("%(who)s a commencé à remplir le formulaire de signature.")),
    Signer.Status.COMPLETED: (Level.SUCCESS, gettext_noop("%(who)s a signé le devis.")),
    Signer.Status.DECLINED: (Level.WARNING, gettext_noop("%(who)s a refusé de signer : %(reason)s")),
    Signer.Status.EXPIRED: (Level.WARNING, gettext_noop("La demande de signature de %(who)s a expiré.")),
}


def moment(value):
    return parse_datetime(value) if isinstance(value, str) and value else None


def request_for(connection, submission_id) -> SignatureRequest | None:
    if submission_id in (None, ""):
        return None
    try:
        submission_id = int(submission_id)
    except (TypeError, ValueError):
        return None
    return (SignatureRequest.objects.select_for_update().select_related("quote")
            .filter(connection=connection, submission_id=submission_id).first())


def remote_signer_status(data: dict) -> str:
    """A DocuSeal submitter's status (declined > completed > opened > sent > awaiting), `started` kept."""
    status = data.get("status") or ""
    return status if status in Signer.Status.values else Signer.Status.SENT


def record(request: SignatureRequest, message: str, level=Level.INFO, *, params=None, webhook_event=None, **ids):
    """With `params`, `message` is a catalogue source (gettext_noop) read in each reader's language."""
    TimelineEntry.record(request.quote, message, params=params, provider=PROVIDER, level=level,
                         webhook_event=webhook_event,
                         external_ids={"docuseal_submission_id": request.submission_id, **ids})


def apply_signer(request: SignatureRequest, data: dict, status: str | None = None, *, webhook_event=None) -> bool:
    """Move one signer forward from a submitter payload; True when its status changed."""
    signer = Signer.objects.filter(request=request, submitter_id=data.get("id")).first()
    if signer is None:
        return False
    status = status or remote_signer_status(data)
    changed_fields = []
    for field in ("opened_at", "completed_at", "declined_at"):
        value = moment(data.get(field))
        if value and getattr(signer, field) is None:
            setattr(signer, field, value)
            changed_fields.append(field)
    if data.get("decline_reason") and not signer.decline_reason:
        signer.decline_reason = str(data["decline_reason"])[:2000]
        changed_fields.append("decline_reason")
    moved = Signer.RANK.get(status, 0) > Signer.RANK.get(signer.status, 0) and signer.status not in (
        Signer.Status.COMPLETED, Signer.Status.DECLINED, Signer.Status.EXPIRED)
    if moved:
        signer.status = status
        changed_fields.append("status")
    if changed_fields:
        signer.save(update_fields=changed_fields)
    if moved:
        level, text = SIGNER_MESSAGES[status]
        record(request, text, level, params={"who": signer.name or signer.email,
                                             "reason": signer.decline_reason or gettext_lazy("(sans motif)")},
               webhook_event=webhook_event, docuseal_submitter_id=signer.submitter_id)
    return moved


def close(request: SignatureRequest, status: str, *, webhook_event=None, reason: str = "") -> bool:
    """The submission ended (signed, declined, expired, cancelled): request and quote follow, once."""
    if request.status == status or not request.is_open:
        return False
    request.status = status
    request.closed_at = timezone.now()
    fields = ["status", "closed_at"]
    if status == SignatureRequest.Status.COMPLETED:
        request.completed_at = request.closed_at
        fields.append("completed_at")
    if reason:
        request.decline_reason = reason[:2000]
        fields.append("decline_reason")
    request.save(update_fields=fields)
    quote = request.quote
    new_quote_status = {
        SignatureRequest.Status.COMPLETED: Quote.Status.ACCEPTED,
        SignatureRequest.Status.DECLINED: Quote.Status.DECLINED,
        SignatureRequest.Status.EXPIRED: Quote.Status.EXPIRED,
    }.get(status)
    if new_quote_status and quote.status == Quote.Status.SENT:
        quote.status = new_quote_status
        quote.save(update_fields=["status", "updated_at"])
    messages = {
        SignatureRequest.Status.COMPLETED: (Level.SUCCESS, gettext_noop("Devis signé par tous les signataires "
                                                                        "(DocuSeal).")),
        SignatureRequest.Status.DECLINED: (Level.WARNING, gettext_noop("Signature refusée : %(reason)s")),
        SignatureRequest.Status.EXPIRED: (Level.WARNING, gettext_noop("La demande de signature a expiré sans être "
                                                                      "signée.")),
        SignatureRequest.Status.ARCHIVED: (Level.INFO, gettext_noop("Demande de signature annulée (archivée dans "
                                                                    "DocuSeal).")),
    }
    level, message = messages[status]
    params = {"reason": reason or request.decline_reason or gettext_lazy("(sans motif)")}
    record(request, message, level, params=params if status == SignatureRequest.Status.DECLINED else {},
           webhook_event=webhook_event)
    return True


def apply_submission(request: SignatureRequest, data: dict, *, webhook_event=None) -> None:
    """A full submission payload (GET /submissions/{id}, submission.* webhooks): every signer, then the end."""
    for submitter in data.get("submitters") or []:
        apply_signer(request, submitter, webhook_event=webhook_event)
    status = data.get("status")
    if data.get("archived_at") and status == "pending":
        status = SignatureRequest.Status.ARCHIVED
    if status == "declined":
        reasons = [s.get("decline_reason") for s in data.get("submitters") or [] if s.get("decline_reason")]
        reason = reasons[0] if reasons else request.signers.exclude(decline_reason="").values_list(
            "decline_reason", flat=True).first() or ""
        close(request, SignatureRequest.Status.DECLINED, webhook_event=webhook_event, reason=reason)
    elif status == "expired":
        for signer in request.signers.exclude(status__in=[Signer.Status.COMPLETED, Signer.Status.DECLINED]):
            apply_signer(request, {"id": signer.submitter_id}, Signer.Status.EXPIRED, webhook_event=webhook_event)
        close(request, SignatureRequest.Status.EXPIRED, webhook_event=webhook_event)
    elif status in (SignatureRequest.Status.COMPLETED, SignatureRequest.Status.ARCHIVED):
        close(request, status, webhook_event=webhook_event)
    request.last_checked_at = timezone.now()
    request.save(update_fields=["last_checked_at"])


def changed(request: SignatureRequest) -> None:
    """Push the quote's DocuSeal panel to the pages showing it (after commit), and report its signature state
    to whoever mirrors integration statuses."""
    panels.push_after_commit(request.quote)
    signals.integration_status_reported.send(sender="docuseal", record=request.quote,
                                             signature_state=request.status)
