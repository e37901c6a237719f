"""Pages of the emulated DocuSeal a person uses: the signing form (`/s/<slug>`) and the account's page
(submissions, Settings → Webhooks with its Secret and HMAC tabs, the "resend" test button, the edition).
"""

from __future__ import annotations

from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse

from apps.core.sandbox import sandbox_view
from apps.docuseal.sandbox import state
from apps.docuseal.sandbox.api import base_of
from apps.docuseal.sandbox.models import SandboxAccount, SandboxSubmitter


@sandbox_view
def signing_form(request, slug):
    submitter = get_object_or_404(SandboxSubmitter.objects.select_related("submission__account"), slug=slug)
    submission = submitter.submission
    base = base_of(request)
    if request.method == "POST":
        action = request.POST.get("action")
        closed = submitter.completed_at or submitter.declined_at or submission.archived_at \
            or state.submission_status(submission) == "expired"
        if not closed and state.is_turn(submitter):
            if action == "sign" and request.POST.get("signature", "").strip():
                state.sign(base, submitter, request.POST["signature"].strip())
            elif action == "decline" and request.POST.get("reason", "").strip():
                state.decline(base, submitter, request.POST["reason"].strip())
        return HttpResponseRedirect(reverse("docuseal_sandbox:signing_form", args=[slug]))
    if not (submitter.completed_at or submitter.declined_at):
        state.open_form(base, submitter)
    submitter.refresh_from_db()
    return render(request, "docuseal/sandbox/signing_form.html", {
        "submitter": submitter, "submission": submission, "status": state.submitter_status(submitter),
        "submission_status": state.submission_status(submission), "my_turn": state.is_turn(submitter),
        "values": (submitter.values or {}).items(), "documents": state.document_names(submission),
    })


@sandbox_view
def account_page(request, pk):
    account = get_object_or_404(SandboxAccount, pk=pk)
    if request.method == "POST":
        action = request.POST.get("action")
        if action == "webhook":
            account.webhook_url = request.POST.get("webhook_url", "").strip()
            account.webhook_events = [e for e in request.POST.getlist("events") if e in state.ALL_EVENTS]
            account.secret_header_name = request.POST.get("secret_header_name", "").strip()
            account.secret_header_value = request.POST.get("secret_header_value", "").strip()
            account.save()
        elif action == "test":
            state.send_test_delivery(base_of(request), account)
        elif action == "edition" and request.POST.get("edition") in SandboxAccount.Edition.values:
            account.edition = request.POST["edition"]
            account.save(update_fields=["edition"])
        return HttpResponseRedirect(reverse("docuseal_sandbox:account", args=[pk]))
    submissions = account.submissions.prefetch_related("submitters").order_by("-id")[:30]
    return render(request, "docuseal/sandbox/account.html", {
        "account": account, "events": state.ALL_EVENTS,
        "submissions": [(s, state.submission_status(s)) for s in submissions],
        "deliveries": account.deliveries.all()[:30],
    })


@sandbox_view
def index(request):
    return render(request, "docuseal/sandbox/index.html", {"accounts": SandboxAccount.objects.order_by("pk")})
