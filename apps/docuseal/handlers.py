"""One handler per DocuSeal event type the console acts on (webhooks.EVENTS); template.* are stored ignored.

Each reads the verified payload, finds the console's signature request by submission id (a submission the
console did not create is left alone) and applies it through signatures.py, which makes every handler
idempotent. form.completed / submission.completed archive the signed files at once (their URLs expire).
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy

from apps.docuseal import archive, signatures
from apps.docuseal.models import SignatureRequest, Signer
from apps.docuseal.webhooks import parse


def _payload(event) -> dict:
    return parse(bytes(event.body))["data"]


def _form_event(event, status: str | None = None):
    data = _payload(event)
    request = signatures.request_for(event.connection, data.get("submission_id")
                                     or (data.get("submission") or {}).get("id"))
    if request is None:
        return None, data
    signatures.apply_signer(request, data, status, webhook_event=event)
    return request, data


def form_viewed(event):
    request, _data = _form_event(event, Signer.Status.OPENED)
    if request:
        signatures.changed(request)


def form_started(event):
    request, _data = _form_event(event, Signer.Status.STARTED)
    if request:
        signatures.changed(request)


def form_completed(event):
    request, data = _form_event(event, Signer.Status.COMPLETED)
    if request is None:
        return
    submission = data.get("submission") or {}
    if submission.get("status") == "completed":
        signatures.close(request, SignatureRequest.Status.COMPLETED, webhook_event=event)
        archive.archive(request, documents=data.get("documents"),
                        audit_log_url=data.get("audit_log_url") or submission.get("audit_log_url"),
                        webhook_event=event)
    signatures.changed(request)


def form_declined(event):
    request, data = _form_event(event, Signer.Status.DECLINED)
    if request is None:
        return
    signatures.close(request, SignatureRequest.Status.DECLINED, webhook_event=event,
                     reason=str(data.get("decline_reason") or ""))
    signatures.changed(request)


def _submission_event(event):
    data = _payload(event)
    request = signatures.request_for(event.connection, data.get("id"))
    return request, data


def submission_created(event):
    request, data = _submission_event(event)
    if request:
        signatures.apply_submission(request, data, webhook_event=event)
        signatures.changed(request)


def submission_completed(event):
    request, data = _submission_event(event)
    if request is None:
        return
    signatures.apply_submission(request, data, webhook_event=event)
    archive.archive(request, documents=data.get("documents"), audit_log_url=data.get("audit_log_url"),
                    webhook_event=event)
    signatures.changed(request)


def submission_expired(event):
    request, data = _submission_event(event)
    if request:
        signatures.apply_submission(request, {**data, "status": "expired"}, webhook_event=event)
        signatures.changed(request)


def submission_archived(event):
    request, _data = _submission_event(event)
    if request:
        signatures.close(request, SignatureRequest.Status.ARCHIVED, webhook_event=event)
        signatures.changed(request)


# What a person reads in the webhook log for each DocuSeal event type.
EVENT_LABELS = {
    "form.viewed": gettext_lazy("Demande de signature ouverte"),
    "form.started": gettext_lazy("Signature commencée"),
    "form.completed": gettext_lazy("Signataire a signé"),
    "form.declined": gettext_lazy("Signature refusée"),
    "submission.created": gettext_lazy("Demande de signature créée"),
    "submission.completed": gettext_lazy("Document signé par tous"),
    "submission.expired": gettext_lazy("Demande de signature expirée"),
    "submission.archived": gettext_lazy("Demande de signature archivée"),
}

HANDLERS = {
    "form.viewed": form_viewed,
    "form.started": form_started,
    "form.completed": form_completed,
    "form.declined": form_declined,
    "submission.created": submission_created,
    "submission.completed": submission_completed,
    "submission.expired": submission_expired,
    "submission.archived": submission_archived,
}
