"""Signed documents copied into the console's storage as soon as DocuSeal says the submission is signed.

Order of work: the URLs the webhook brought (they expire after 40 minutes) -> on any failure, fresh URLs
from GET /submissions/{id}/documents -> still failing: the request is marked `failed` with the reason, a
timeline warning, and the reconciliation job tries again later. A document already archived (same request,
kind and name) is never fetched or stored again; the audit log is archived beside the documents.
Files go to Django's default storage under docuseal/<quote>/<submission>/ — never a public URL: they are
served only by views.signed_document, which checks the quote's permission.
"""

from __future__ import annotations

import hashlib
import logging

from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.utils.text import get_valid_filename
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from apps.core.http import ApiError
from apps.core.models import TimelineEntry
from apps.docuseal.client import DocusealClient
from apps.docuseal.models import SignatureRequest, SignedDocument
from apps.docuseal.signatures import changed, record

logger = logging.getLogger(__name__)

Kind = SignedDocument.Kind


def wanted(documents: list[dict], audit_log_url: str | None) -> list[tuple[str, str, str]]:
    """(kind, name, url) of every file to keep."""
    files = [(Kind.DOCUMENT, str(d.get("name") or "document"), d.get("url") or "") for d in documents or []]
    if audit_log_url:
        files.append((Kind.AUDIT_LOG, "audit-log", audit_log_url))
    return files


def not_archived(request: SignatureRequest, files):
    return [f for f in files if not SignedDocument.objects.filter(request=request, kind=f[0], name=f[1]).exists()]


def pdf_name(name: str) -> str:
    base = get_valid_filename(name) or "document"
    return base if base.lower().endswith(".pdf") else base + ".pdf"


def store(request: SignatureRequest, kind: str, name: str, content: bytes) -> bool:
    """Keep one file; False when it was already archived (a second webhook, a concurrent job)."""
    if SignedDocument.objects.filter(request=request, kind=kind, name=name).exists():
        return False
    document = SignedDocument(request=request, kind=kind, name=name, size=len(content),
                              sha256=hashlib.sha256(content).hexdigest())
    try:
        with transaction.atomic():
            document.file.save(pdf_name(name), ContentFile(content), save=False)
            document.save()
    except IntegrityError:
        document.file.delete(save=False)
        return False
    return True


def archive(request: SignatureRequest, *, documents: list[dict] | None = None, audit_log_url: str | None = None,
            webhook_event=None) -> bool:
    """Archive the signed files of a completed request; True when everything is archived."""
    if request.archive_state == SignatureRequest.ArchiveState.ARCHIVED:
        return True
    api = DocusealClient(request.connection)
    files = wanted(documents or [], audit_log_url)
    failure = _fetch_all(request, api, not_archived(request, files))
    if failure or not files:
        # The webhook's URLs failed (expired, refused) or it brought none: ask DocuSeal for fresh ones.
        try:
            fresh = api.submission_documents(request.submission_id)
            audit_url = (api.get_submission(request.submission_id) or {}).get("audit_log_url")
        except ApiError as exc:
            return _failed(request, str(exc), webhook_event)
        files = wanted(fresh, audit_url)
        failure = _fetch_all(request, api, not_archived(request, files))
        if failure:
            return _failed(request, failure, webhook_event)
    if not any(kind == Kind.DOCUMENT for kind, _n, _u in files) and not request.documents.filter(
            kind=Kind.DOCUMENT).exists():
        return _failed(request, _("DocuSeal n'a fourni aucun document signé."), webhook_event)
    request.archive_state = SignatureRequest.ArchiveState.ARCHIVED
    request.archive_error = ""
    request.save(update_fields=["archive_state", "archive_error"])
    count = request.documents.filter(kind=Kind.DOCUMENT).count()
    record(request, gettext_noop("Document(s) signé(s) archivé(s) dans la console : %(count)s, avec le journal "
                                 "d'audit.") if request.documents.filter(kind=Kind.AUDIT_LOG).exists()
           else gettext_noop("Document(s) signé(s) archivé(s) dans la console : %(count)s."),
           TimelineEntry.Level.SUCCESS, params={"count": count}, webhook_event=webhook_event)
    changed(request)
    return True


def _fetch_all(request, api, files) -> str:
    """Fetch and store each file; the first failure's message, or "" when all went well."""
    for kind, name, url in files:
        if not url:
            return _("adresse de téléchargement absente pour « %(name)s »") % {"name": name}
        try:
            content = api.download(url)
        except ApiError as exc:
            return _("téléchargement de « %(name)s » impossible : %(error)s") % {"name": name, "error": exc}
        if not content.startswith(b"%PDF"):
            return _("« %(name)s » n'est pas un PDF") % {"name": name}
        store(request, kind, name, content)
    return ""


def _failed(request, message: str, webhook_event) -> bool:
    request.archive_state = SignatureRequest.ArchiveState.FAILED
    request.archive_error = str(message)[:500]
    request.archive_attempts += 1
    request.save(update_fields=["archive_state", "archive_error", "archive_attempts"])
    if request.archive_attempts == 1:  # one warning, not one per retry
        record(request, gettext_noop("Archivage du document signé en échec (nouvel essai automatique) : %(error)s"),
               TimelineEntry.Level.WARNING, params={"error": message}, webhook_event=webhook_event)
    changed(request)
    logger.warning("DocuSeal : archivage de la soumission %s en échec : %s", request.submission_id, message)
    return False
