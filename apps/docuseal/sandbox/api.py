"""The emulated DocuSeal API, as a self-hosted instance serves it: `/sandbox/docuseal/api/...` (NOTES §4).

Shapes and errors as DocuSeal's: 401 `{"error":"Not authenticated"}`, 404 `{"status":404}` for an unknown
record, 422 `{"error": ...}` for business errors, and on an account set to the open-source edition the
Pro-only paths answer 404 with the "Pro Edition" message (errors_controller.rb ENTERPRISE_PATHS).
Lists are newest first, `limit`/`after`/`before` as the code does (NOTES §3).
"""

from __future__ import annotations

import base64
import binascii
import json
from functools import wraps

from django.http import HttpResponse, JsonResponse
from django.utils.dateparse import parse_datetime
from django.utils import timezone

from apps.core.sandbox import sandbox_view
from apps.docuseal.sandbox import state
from apps.docuseal.sandbox.models import SandboxAccount, SandboxSubmission, SandboxSubmitter, SandboxTemplate


def base_of(request) -> str:
    return request.build_absolute_uri("/sandbox/docuseal").rstrip("/")


def error(status: int, message: str) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


def not_found() -> JsonResponse:
    return JsonResponse({"status": 404}, status=404)


def pro_only() -> JsonResponse:
    return JsonResponse({"status": 404, "message": state.PRO_EDITION_MESSAGE}, status=404)


def api(*methods):
    def decorator(view):
        @sandbox_view
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            key = request.headers.get("X-Auth-Token", "")
            account = SandboxAccount.objects.filter(api_key=key).first() if key else None
            if account is None:
                return error(401, "Not authenticated")
            if request.method not in methods:
                return not_found()
            state.expire_due(base_of(request), account)
            return view(request, account, *args, **kwargs)

        return wrapper

    return decorator


def json_body(request):
    try:
        body = json.loads(request.body or b"{}")
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    return body if isinstance(body, dict) else None


def page(request, queryset, serialize) -> JsonResponse:
    try:
        limit = min(max(int(request.GET.get("limit", 10)), 1), 100)
    except ValueError:
        limit = 10
    queryset = queryset.order_by("-id")
    if request.GET.get("after", "").isdigit():
        queryset = queryset.filter(id__lt=int(request.GET["after"]))
    if request.GET.get("before", "").isdigit():
        queryset = queryset.filter(id__gt=int(request.GET["before"]))
    items = list(queryset[:limit])
    return JsonResponse({"data": [serialize(item) for item in items],
                         "pagination": {"count": len(items), "next": items[-1].pk if items else None,
                                        "prev": items[0].pk if items else None}})


@api("GET")
def user(request, account):
    return JsonResponse({"id": account.pk, "first_name": account.first_name, "last_name": account.last_name,
                         "email": account.email})


@api("GET")
def templates(request, account):
    queryset = account.templates.all()
    archived = request.GET.get("archived")
    if archived == "true":
        queryset = queryset.filter(archived_at__isnull=False)
    elif archived == "false":
        queryset = queryset.filter(archived_at__isnull=True)
    return page(request, queryset, state.template_api)


@api("GET")
def template(request, account, template_id):
    found = account.templates.filter(pk=template_id).first()
    return JsonResponse(state.template_api(found)) if found else not_found()


def parse_expire_at(value):
    if not value:
        return None
    moment = parse_datetime(str(value).replace(" UTC", "+00:00").replace(" ", "T", 1))
    if moment is not None and timezone.is_naive(moment):
        moment = moment.replace(tzinfo=state.UTC)
    return moment


def checked_submitters(body) -> list[dict] | JsonResponse:
    submitters = body.get("submitters")
    if not isinstance(submitters, list) or not submitters:
        return error(422, "submitters is required")
    for item in submitters:
        if not isinstance(item, dict) or not item.get("email"):
            return error(422, "submitters[].email is required")
        if item.get("values") is not None and not isinstance(item["values"], dict):
            return error(422, "values must be an object")
    return submitters


def from_template(request, account):
    body = json_body(request)
    if body is None:
        return None, error(422, "Unable to parse JSON")
    found = account.templates.filter(pk=body.get("template_id") or 0).first() \
        if str(body.get("template_id", "")).isdigit() else None
    if found is None:
        return None, error(422, "Template not found")
    if found.archived_at:
        return None, error(422, "Template has been archived")
    if not found.fields:
        return None, error(422, "Template does not contain fields")
    submitters = checked_submitters(body)
    if isinstance(submitters, JsonResponse):
        return None, submitters
    roles = [role["name"] for role in found.roles]
    for position, item in enumerate(submitters):
        item.setdefault("role", roles[position] if position < len(roles) else f"Party {position + 1}")
        if item["role"] not in roles:
            return None, error(422, f"Unknown submitter role: {item['role']}")
    submission = state.create_submission(
        base_of(request), account, submitters=submitters, template=found, name=body.get("name") or "",
        order=body.get("order") or body.get("submitters_order") or "preserved",
        send_email=body.get("send_email", True), expire_at=parse_expire_at(body.get("expire_at")))
    return submission, None


@api("GET", "POST")
def submissions(request, account):
    if request.method == "POST":
        submission, failure = from_template(request, account)
        if failure is not None:
            return failure
        base = base_of(request)
        # POST /submissions answers the created submitters, not the submission (NOTES §5).
        return JsonResponse([state.submitter_api(base, s, with_documents=False)
                             for s in submission.submitters.all()], safe=False)
    queryset = account.submissions.all()
    if request.GET.get("template_id", "").isdigit():
        queryset = queryset.filter(template_id=int(request.GET["template_id"]))
    archived = request.GET.get("archived")
    queryset = queryset.filter(archived_at__isnull=archived != "true")
    wanted = request.GET.get("status")
    base = base_of(request)
    if wanted:
        ids = [s.pk for s in queryset if state.submission_status(s) == wanted]
        queryset = queryset.filter(pk__in=ids)
    return page(request, queryset, lambda s: state.submission_api(base, s))


@api("POST")
def submissions_init(request, account):
    """POST /submissions/init: same creation, answered as {id, submitters, expire_at, created_at}."""
    submission, failure = from_template(request, account)
    if failure is not None:
        return failure
    base = base_of(request)
    return JsonResponse({"id": submission.pk,
                         "submitters": [state.submitter_api(base, s) for s in submission.submitters.all()],
                         "expire_at": state.iso(submission.expire_at), "created_at": state.iso(submission.created_at)})


@api("POST")
def submissions_from_pdf(request, account):
    """POST /submissions/pdf (Pro): documents are base64 PDFs; answers the submission object."""
    if account.edition != SandboxAccount.Edition.PRO:
        return pro_only()
    body = json_body(request)
    if body is None:
        return error(422, "Unable to parse JSON")
    documents = body.get("documents")
    if not isinstance(documents, list) or not documents:
        return error(422, "documents is required")
    stored = []
    for document in documents:
        try:
            content = base64.b64decode(str(document.get("file", "")), validate=True)
        except (binascii.Error, ValueError):
            return error(422, "Unable to download file")
        if not content.startswith(b"%PDF"):
            return error(422, "Invalid PDF file")
        stored.append({"name": str(document.get("name") or "document")})
    submitters = checked_submitters(body)
    if isinstance(submitters, JsonResponse):
        return submitters
    # DocuSeal makes a template of the uploaded PDF behind the submission (its `template` is never null).
    pdf_template = SandboxTemplate.objects.create(
        account=account, name=body.get("name") or stored[0]["name"], slug=state.token(),
        roles=[{"name": item.get("role") or f"Party {n + 1}", "uuid": state.token(16)}
               for n, item in enumerate(submitters)],
        fields=[{**field, "uuid": state.token(16), "submitter_uuid": ""}
                for document in documents for field in document.get("fields") or []])
    submission = state.create_submission(
        base_of(request), account, submitters=submitters, template=pdf_template, documents=stored,
        name=body.get("name") or "",
        order=body.get("order") or "preserved", send_email=body.get("send_email", True),
        expire_at=parse_expire_at(body.get("expire_at")))
    return JsonResponse(state.submission_api(base_of(request), submission))


@api("POST")
def pro_only_path(request, account):
    """/submissions/html|docx and /templates/pdf|docx|html: not emulated beyond the edition check."""
    if account.edition != SandboxAccount.Edition.PRO:
        return pro_only()
    return error(422, "Not supported by the sandbox")


@api("GET", "DELETE")
def submission(request, account, submission_id):
    found = account.submissions.filter(pk=submission_id).first()
    if found is None:
        return not_found()
    if request.method == "DELETE":
        state.archive(base_of(request), found)
        return JsonResponse({"id": found.pk, "archived_at": state.iso(found.archived_at)})
    return JsonResponse(state.submission_api(base_of(request), found))


@api("GET")
def submission_documents(request, account, submission_id):
    found = account.submissions.filter(pk=submission_id).first()
    if found is None:
        return not_found()
    return JsonResponse({"id": found.pk, "documents": state.documents_api(base_of(request), found)})


@api("GET")
def submitters(request, account):
    queryset = SandboxSubmitter.objects.filter(submission__account=account)
    if request.GET.get("submission_id", "").isdigit():
        queryset = queryset.filter(submission_id=int(request.GET["submission_id"]))
    if request.GET.get("external_id"):
        queryset = queryset.filter(external_id=request.GET["external_id"])
    base = base_of(request)
    return page(request, queryset, lambda s: state.submitter_api(base, s))


@api("GET", "PUT")
def submitter(request, account, submitter_id):
    found = SandboxSubmitter.objects.filter(submission__account=account, pk=submitter_id).first()
    if found is None:
        return not_found()
    if request.method == "PUT":
        body = json_body(request)
        if body is None:
            return error(422, "Unable to parse JSON")
        if found.completed_at:
            return error(422, "Submitter has already completed the submission.")
        if found.declined_at:
            return error(422, "Submitter has already declined the submission.")
        for name in ("name", "email", "external_id"):
            if body.get(name):
                setattr(found, name, body[name])
        if isinstance(body.get("values"), dict):
            found.values = {**found.values, **body["values"]}
        if body.get("send_email") and state.is_turn(found):
            found.sent_at = timezone.now()  # re-sent: a fresh signature request e-mail
        found.save()
    return JsonResponse(state.submitter_api(base_of(request), found))


@api("GET")
def completed_events(request, account, kind, event_type):
    """GET /events/{form|submission}/{type} (undocumented): completions by time, Unix seconds cursors."""
    queryset = SandboxSubmission.objects.filter(account=account, completed_at__isnull=False)
    if request.GET.get("after", "").isdigit():
        queryset = queryset.filter(completed_at__lt=timezone.datetime.fromtimestamp(int(request.GET["after"]),
                                                                                     tz=state.UTC))
    if request.GET.get("before", "").isdigit():
        queryset = queryset.filter(completed_at__gt=timezone.datetime.fromtimestamp(int(request.GET["before"]),
                                                                                      tz=state.UTC))
    limit = min(int(request.GET.get("limit", 10)) if request.GET.get("limit", "").isdigit() else 10, 100)
    items = list(queryset.order_by("-completed_at")[:limit])
    base = base_of(request)
    data = [{"event_type": "submission.completed", "timestamp": state.iso(s.completed_at),
             "data": state.submission_api(base, s)} for s in items]
    return JsonResponse({"data": data, "pagination": {
        "count": len(items),
        "next": int(items[-1].completed_at.timestamp()) if items else None,
        "prev": int(items[0].completed_at.timestamp()) if items else None}})


@sandbox_view
def file(request, signed):
    """An ActiveStorage-like proxy URL: valid 40 minutes, then 404 (NOTES §4)."""
    found = state.read_file_token(signed)
    if found is None:
        return HttpResponse(status=404)
    submission, kind, index = found
    if submission.account.downloads_down:
        return HttpResponse("Internal Server Error", status=500)
    if state.submission_status(submission) != "completed":
        return HttpResponse(status=404)
    if kind == "audit_log":
        content, name = state.audit_log_pdf(submission), "audit_log.pdf"
    else:
        if index >= len(submission.documents):
            return HttpResponse(status=404)
        content, name = state.signed_pdf(submission, index), submission.documents[index]["name"] + ".pdf"
    response = HttpResponse(content, content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="{name}"'
    return response
