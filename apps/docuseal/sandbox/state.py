"""What the DocuSeal emulator does, apart from HTTP: serializers shaped like DocuSeal's, the signing
lifecycle, expiring file URLs and signed webhook deliveries with DocuSeal's retry schedule.

Serializers follow the official openapi.json (required fields) and the webhook docs (NOTES §6.3).
File URLs expire after DOCUSEAL_SANDBOX_FILE_URL_SECONDS (40 minutes, NOTES §4). Deliveries are signed
`X-Docuseal-Signature: <t>.<hex HMAC-SHA256(secret, "<t>.<body>")>` (NOTES §6.4), except the settings page's
test delivery, which DocuSeal sends unsigned. A delivery counts as delivered on any status < 400 (3xx
too, NOTES §6.5); otherwise attempt n is followed by attempt n+1 after 2^n "minutes", a minute lasting
DOCUSEAL_SANDBOX_MINUTE_SECONDS (1 s by default: the schedule compressed in time), up to 10 retries
(12 for form.completed).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import secrets
import threading
import time
from datetime import UTC, timedelta

import requests
from django.conf import settings
from django.core import signing
from django.db import close_old_connections, transaction
from django.utils import timezone

from apps.docuseal.sandbox import pdf
from apps.docuseal.sandbox.models import (
    SandboxAccount,
    SandboxDelivery,
    SandboxSubmission,
    SandboxSubmitter,
    SandboxTemplate,
)

logger = logging.getLogger(__name__)

USER_AGENT = "DocuSeal.com Webhook"
PRO_EDITION_MESSAGE = "This feature is available in Pro Edition: https://www.docuseal.com/pricing"
ALL_EVENTS = ["form.viewed", "form.started", "form.completed", "form.declined", "submission.created",
              "submission.completed", "submission.expired", "submission.archived", "template.created",
              "template.updated", "template.archived"]
DEFAULT_EVENTS = ["form.viewed", "form.started", "form.completed", "form.declined"]
FILE_SALT = "docuseal-sandbox-file"


def iso(moment) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def token(length: int = 14) -> str:
    return secrets.token_urlsafe(length)[:length]


def file_url_seconds() -> int:
    return int(getattr(settings, "DOCUSEAL_SANDBOX_FILE_URL_SECONDS", 40 * 60))


def minute_seconds() -> float:
    return float(getattr(settings, "DOCUSEAL_SANDBOX_MINUTE_SECONDS", 1.0))


def background_delivery() -> bool:
    return bool(getattr(settings, "DOCUSEAL_SANDBOX_BACKGROUND_DELIVERY", True))


# Accounts and templates ---------------------------------------------------------------------------------------
def new_account(**fields) -> SandboxAccount:
    fields.setdefault("api_key", secrets.token_urlsafe(32))
    fields.setdefault("hmac_secret", "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode())
    fields.setdefault("webhook_events", list(ALL_EVENTS))
    return SandboxAccount.objects.create(**fields)


ACCEPTANCE_FIELDS = ("Numéro du devis", "Client", "Montant TTC", "Valable jusqu'au")


def acceptance_template(account: SandboxAccount, name: str = "Acceptation de devis",
                        field_names=ACCEPTANCE_FIELDS) -> SandboxTemplate:
    """A template like the one an admin prepares on the open-source edition: text fields, then a signature."""
    role_uuid = secrets.token_hex(8)
    fields = [{"uuid": secrets.token_hex(8), "submitter_uuid": role_uuid, "name": field, "type": "text",
               "required": False, "readonly": True} for field in field_names]
    fields.append({"uuid": secrets.token_hex(8), "submitter_uuid": role_uuid, "name": "Signature", "type": "signature",
                   "required": True})
    return SandboxTemplate.objects.create(account=account, name=name, slug=token(), fields=fields,
                                          roles=[{"name": "Client", "uuid": role_uuid}])


def template_api(template: SandboxTemplate) -> dict:
    account = template.account
    return {
        "id": template.pk, "slug": template.slug, "name": template.name,
        "preferences": {}, "schema": [{"attachment_uuid": template.slug, "name": template.name}],
        "fields": [{**field, "areas": [{"x": 0.1, "y": 0.1 + 0.05 * i, "w": 0.3, "h": 0.04, "page": 1,
                                         "attachment_uuid": template.slug}]}
                   for i, field in enumerate(template.fields)],
        "submitters": template.roles, "author_id": 1, "archived_at": iso(template.archived_at),
        "created_at": iso(template.created_at), "updated_at": iso(template.updated_at), "source": "native",
        "external_id": None, "folder_id": 1, "folder_name": "Default",
        "author": {"id": 1, "first_name": account.first_name, "last_name": account.last_name, "email": account.email},
        "documents": [{"id": template.pk, "uuid": template.slug, "url": "", "preview_image_url": "",
                       "filename": f"{template.name}.pdf"}],
    }


def template_summary(template: SandboxTemplate | None) -> dict | None:
    if template is None:
        return None
    return {"id": template.pk, "name": template.name, "external_id": None, "folder_name": "Default",
            "created_at": iso(template.created_at), "updated_at": iso(template.updated_at)}


# Statuses ------------------------------------------------------------------------------------------------------
def submitter_status(submitter: SandboxSubmitter) -> str:
    for status, moment in (("declined", submitter.declined_at), ("completed", submitter.completed_at),
                           ("opened", submitter.opened_at), ("sent", submitter.sent_at)):
        if moment:
            return status
    return "awaiting"


def submission_status(submission: SandboxSubmission) -> str:
    submitters = list(submission.submitters.all())
    if submitters and all(s.completed_at for s in submitters):
        return "completed"
    if any(s.declined_at for s in submitters):
        return "declined"
    if submission.expire_at and submission.expire_at <= timezone.now():
        return "expired"
    return "pending"


# Files ----------------------------------------------------------------------------------------------------------
def file_url(base: str, submission: SandboxSubmission, kind: str, index: int = 0) -> str:
    signed = signing.TimestampSigner(salt=FILE_SALT).sign_object({"s": submission.pk, "k": kind, "i": index})
    return f"{base}/file/{signed}/"


def read_file_token(value: str):
    """(submission, kind, index) of a file URL still valid; None when forged or expired."""
    signer = signing.TimestampSigner(salt=FILE_SALT)
    try:
        data = signer.unsign_object(value, max_age=file_url_seconds())
        issued = signing.b62_decode(value.rsplit(":", 2)[-2])  # the signer's own timestamp
    except (signing.BadSignature, ValueError):
        return None
    submission = SandboxSubmission.objects.select_related("account").filter(pk=data.get("s")).first()
    if submission is None:
        return None
    valid_from = submission.account.links_valid_from
    if valid_from is not None and issued < int(valid_from.timestamp()):
        return None
    return submission, data.get("k"), data.get("i", 0)


def document_names(submission: SandboxSubmission) -> list[str]:
    return [document["name"] for document in submission.documents]


def signed_pdf(submission: SandboxSubmission, index: int) -> bytes:
    lines = [f"Document : {submission.documents[index]['name']}", f"Soumission DocuSeal n° {submission.pk}"]
    for submitter in submission.submitters.all():
        values = ", ".join(f"{k} = {v}" for k, v in (submitter.values or {}).items())
        if values:
            lines.append(values[:90])
        if submitter.completed_at:
            lines.append(f"Signé par {submitter.name or submitter.email} le {iso(submitter.completed_at)}")
    return pdf.render(lines)


def audit_log_pdf(submission: SandboxSubmission) -> bytes:
    lines = [f"Journal d'audit — soumission n° {submission.pk}"]
    for submitter in submission.submitters.all():
        for label, moment in (("envoyé", submitter.sent_at), ("ouvert", submitter.opened_at),
                              ("signé", submitter.completed_at), ("refusé", submitter.declined_at)):
            if moment:
                lines.append(f"{submitter.email} : {label} le {iso(moment)}")
    return pdf.render(lines)


def documents_api(base: str, submission: SandboxSubmission) -> list[dict]:
    return [{"name": name, "url": file_url(base, submission, "document", index)}
            for index, name in enumerate(document_names(submission))]


# Serializers ------------------------------------------------------------------------------------------------
def values_list(submitter: SandboxSubmitter) -> list[dict]:
    return [{"field": name, "value": value} for name, value in (submitter.values or {}).items()]


def submitter_api(base: str, submitter: SandboxSubmitter, *, with_documents: bool = True) -> dict:
    completed = submitter.completed_at is not None
    answer = {
        "id": submitter.pk, "submission_id": submitter.submission_id, "uuid": submitter.uuid,
        "email": submitter.email, "slug": submitter.slug, "status": submitter_status(submitter),
        "values": values_list(submitter), "metadata": submitter.metadata or {},
        "sent_at": iso(submitter.sent_at), "opened_at": iso(submitter.opened_at),
        "completed_at": iso(submitter.completed_at), "declined_at": iso(submitter.declined_at),
        "created_at": iso(submitter.created_at), "updated_at": iso(submitter.updated_at),
        "name": submitter.name or None, "phone": None, "external_id": submitter.external_id or None,
        "preferences": {"send_email": submitter.send_email, "send_sms": False}, "role": submitter.role,
        "embed_src": f"{base}/s/{submitter.slug}", "submission_events": [],
    }
    if with_documents:
        answer["documents"] = documents_api(base, submitter.submission) if completed else []
    return answer


def submission_api(base: str, submission: SandboxSubmission) -> dict:
    account = submission.account
    status = submission_status(submission)
    completed = status == "completed"
    return {
        "id": submission.pk, "name": submission.name or None, "slug": submission.slug, "source": submission.source,
        "submitters_order": submission.submitters_order,
        "audit_log_url": file_url(base, submission, "audit_log") if completed else None,
        "combined_document_url": None, "expire_at": iso(submission.expire_at),
        "created_at": iso(submission.created_at), "updated_at": iso(submission.updated_at),
        "archived_at": iso(submission.archived_at),
        "submitters": [submitter_api(base, s) for s in submission.submitters.all()],
        "template": template_summary(submission.template),
        "created_by_user": {"id": 1, "email": account.email, "first_name": account.first_name,
                            "last_name": account.last_name},
        "submission_events": [], "variables": {},
        "documents": documents_api(base, submission) if completed else [],
        "status": status, "metadata": {}, "completed_at": iso(submission.completed_at),
    }


def form_webhook_data(base: str, submitter: SandboxSubmitter) -> dict:
    """`data` of form.* events (lib/submitters/serialize_for_webhook.rb, NOTES §6.3)."""
    submission = submitter.submission
    status = submission_status(submission)
    data = submitter_api(base, submitter)
    data.pop("embed_src")
    data.pop("uuid")
    data.pop("slug")
    data.pop("submission_events")
    data |= {
        "ua": "Mozilla/5.0 (sandbox)", "ip": "127.0.0.1", "application_key": submitter.external_id or None,
        "decline_reason": submitter.decline_reason or None,
        "audit_log_url": file_url(base, submission, "audit_log") if status == "completed" else None,
        "submission_url": f"{base}/e/{submission.slug}",
        "template": template_summary(submission.template),
        "submission": {"id": submission.pk, "status": status, "url": f"{base}/e/{submission.slug}",
                       "audit_log_url": file_url(base, submission, "audit_log") if status == "completed" else None,
                       "combined_document_url": None, "variables": {}, "created_at": iso(submission.created_at)},
    }
    return data


# Lifecycle ------------------------------------------------------------------------------------------------
def create_submission(base: str, account: SandboxAccount, *, submitters: list[dict], template=None,
                      documents: list[dict] | None = None, name: str = "", order: str = "preserved",
                      send_email: bool = True, expire_at=None, source: str = "api") -> SandboxSubmission:
    now = timezone.now()
    if documents is None:
        documents = [{"name": template.name if template else "document"}]
    submission = SandboxSubmission.objects.create(
        account=account, template=template, name=name or (template.name if template else ""), slug=token(),
        source=source, submitters_order="random" if order == "random" else "preserved",
        documents=documents, expire_at=expire_at,
    )
    for position, item in enumerate(sorted(submitters, key=lambda s: s.get("order", 0))):
        turn = submission.submitters_order != "preserved" or position == 0
        item_send_email = item.get("send_email", send_email)
        SandboxSubmitter.objects.create(
            submission=submission, uuid=secrets.token_hex(16), slug=token(), email=item["email"],
            name=item.get("name") or "", role=item.get("role") or f"Party {position + 1}", position=position,
            external_id=str(item.get("external_id") or ""), metadata=item.get("metadata") or {},
            values=item.get("values") or {}, send_email=bool(item_send_email),
            sent_at=now if turn and item_send_email is not False else None,
        )
    announce(base, account, "submission.created", submission_api(base, submission))
    return submission


def open_form(base: str, submitter: SandboxSubmitter) -> None:
    """The signer opened the link: `opened_at` the first time, form.viewed every time (NOTES §6.2)."""
    if submitter.opened_at is None:
        submitter.opened_at = timezone.now()
        submitter.sent_at = submitter.sent_at or submitter.opened_at
        submitter.save(update_fields=["opened_at", "sent_at", "updated_at"])
    announce(base, submitter.submission.account, "form.viewed", form_webhook_data(base, submitter))


def is_turn(submitter: SandboxSubmitter) -> bool:
    if submitter.submission.submitters_order != "preserved":
        return True
    earlier = submitter.submission.submitters.filter(position__lt=submitter.position)
    return not earlier.filter(completed_at__isnull=True).exists()


def sign(base: str, submitter: SandboxSubmitter, signature: str) -> None:
    now = timezone.now()
    account = submitter.submission.account
    if submitter.started_at is None:
        submitter.started_at = now
        submitter.save(update_fields=["started_at", "updated_at"])
        announce(base, account, "form.started", form_webhook_data(base, submitter))
    submitter.values = {**(submitter.values or {}), "Signature": signature}
    submitter.completed_at = now
    submitter.save(update_fields=["values", "completed_at", "updated_at"])
    submission = submitter.submission
    following = submission.submitters.filter(position__gt=submitter.position, sent_at__isnull=True).first()
    if following is not None and submission.submitters_order == "preserved":
        following.sent_at = now  # the next signer's turn; DocuSeal sends no webhook for it (NOTES §8.5)
        following.save(update_fields=["sent_at", "updated_at"])
    last = submission_status(submission) == "completed"
    if last:
        submission.completed_at = now
        submission.save(update_fields=["completed_at", "updated_at"])
    announce(base, account, "form.completed", form_webhook_data(base, submitter))
    if last:
        announce(base, account, "submission.completed", submission_api(base, submission))


def decline(base: str, submitter: SandboxSubmitter, reason: str) -> None:
    submitter.declined_at = timezone.now()
    submitter.decline_reason = reason
    submitter.save(update_fields=["declined_at", "decline_reason", "updated_at"])
    announce(base, submitter.submission.account, "form.declined", form_webhook_data(base, submitter))


def archive(base: str, submission: SandboxSubmission) -> None:
    if submission.archived_at is None:
        submission.archived_at = timezone.now()
        submission.save(update_fields=["archived_at", "updated_at"])
    announce(base, submission.account, "submission.archived",
             {"id": submission.pk, "archived_at": iso(submission.archived_at)})


def expire_due(base: str, account: SandboxAccount) -> None:
    """ProcessSubmissionExpiredJob, run lazily on each API call: submission.expired once per submission."""
    due = account.submissions.filter(expire_at__lte=timezone.now(), expired_sent=False, completed_at__isnull=True)
    for submission in due:
        submission.expired_sent = True
        submission.save(update_fields=["expired_sent", "updated_at"])
        announce(base, account, "submission.expired", submission_api(base, submission))


# Webhook deliveries -------------------------------------------------------------------------------------------
def sign_body(secret: str, timestamp: str, body: bytes) -> str:
    return f"{timestamp}." + hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def max_attempts(event_type: str) -> int:
    return 12 if event_type == "form.completed" else 10


def announce(base: str, account: SandboxAccount, event_type: str, data: dict, *, test: bool = False) -> None:
    if not account.webhook_url or (event_type not in (account.webhook_events or []) and not test):
        return
    moment = timezone.now()
    body = json.dumps({"event_type": event_type,
                       "timestamp": moment.isoformat() if test else iso(moment), "data": data})
    delivery = SandboxDelivery.objects.create(account=account, event_type=event_type, url=account.webhook_url,
                                              body=body, signed=not test, next_attempt_at=moment)
    transaction.on_commit(lambda: _in_background_or_now(deliver, delivery.pk))


def deliver(delivery_id: int) -> None:
    """Attempt a delivery; when it fails, keep retrying on the compressed schedule (or at once with minute 0)."""
    while True:
        delay = attempt(delivery_id)
        if delay is None:
            return
        if delay > 0:
            if background_delivery():
                _run_later(delay, deliver, delivery_id)
            return


def attempt(delivery_id: int) -> float | None:
    """One POST; returns the seconds until the next attempt, or None when there is none."""
    delivery = SandboxDelivery.objects.select_related("account").filter(
        pk=delivery_id, state=SandboxDelivery.State.PENDING).first()
    if delivery is None:
        return None
    status = _post(delivery)
    delivery.last_status = status
    attempt_number = delivery.attempts
    delivery.attempts += 1
    if status and status < 400:
        delivery.state, delivery.next_attempt_at = SandboxDelivery.State.DELIVERED, None
        delay = None
    elif attempt_number >= max_attempts(delivery.event_type) + 1 or not delivery.signed:
        delivery.state, delivery.next_attempt_at = SandboxDelivery.State.FAILED, None
        delay = None
    else:
        delay = (2 ** attempt_number) * minute_seconds()
        delivery.next_attempt_at = timezone.now() + timedelta(seconds=delay)
    delivery.save(update_fields=["state", "attempts", "last_status", "next_attempt_at", "updated_at"])
    return delay


def _post(delivery: SandboxDelivery) -> int:
    account = delivery.account
    body = delivery.body.encode()
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
    if account.secret_header_name and account.secret_header_value:
        headers[account.secret_header_name] = account.secret_header_value
    if delivery.signed and account.hmac_secret and "X-Docuseal-Signature" not in headers:
        headers["X-Docuseal-Signature"] = sign_body(account.hmac_secret, str(int(time.time())), body)
    try:
        response = requests.post(delivery.url, data=body, headers=headers, timeout=(8, 15), allow_redirects=False)
    except requests.RequestException as exc:
        logger.warning("Sandbox DocuSeal : webhook %s non délivré : %s", delivery.url, exc)
        return 0
    return response.status_code


def send_test_delivery(base: str, account: SandboxAccount) -> None:
    """The settings page's "resend" button: a form.completed of the last completed signer, unsigned."""
    submitter = SandboxSubmitter.objects.filter(submission__account=account, completed_at__isnull=False) \
        .order_by("-completed_at").first()
    data = form_webhook_data(base, submitter) if submitter else {"id": 0, "email": account.email, "status": "completed"}
    announce(base, account, "form.completed", data, test=True)


def _in_background_or_now(function, *args) -> None:
    if not background_delivery():
        function(*args)
        return
    threading.Thread(target=_closing_connections(function), args=args, daemon=True).start()


def _run_later(delay: float, function, *args) -> None:
    timer = threading.Timer(delay, _closing_connections(function), args=args)
    timer.daemon = True
    timer.start()


def _closing_connections(function):
    def run(*args):
        try:
            function(*args)
        except Exception:  # noqa: BLE001 - a background thread has nobody to report to but the log
            logger.exception("Sandbox DocuSeal : envoi de webhook en échec")
        finally:
            close_old_connections()

    return run
