"""Pages of the emulator for a person: the OAuth2 consent page, and the recipients' inbox where a demo
user opens an email, clicks its link or unsubscribes (each fires the webhook Mautic would), plus the
instance's settings (API, Basic auth, queue mode) and the "process the webhook queue" button."""

from __future__ import annotations

import secrets
from datetime import timedelta
from urllib.parse import urlencode

from django.db import transaction
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone

from apps.core.sandbox import sandbox_view
from apps.mautic.sandbox import delivery, records
from apps.mautic.sandbox.state import SandboxToken


@sandbox_view
def authorize(request):
    inst = records.instance()
    params = request.POST if request.method == "POST" else request.GET
    client_id, redirect_uri = params.get("client_id", ""), params.get("redirect_uri", "")
    if client_id != inst.oauth_client_id or not redirect_uri:
        return HttpResponse("Client OAuth2 inconnu ou redirect_uri absent.", status=400)
    if request.method == "POST":
        state = params.get("state", "")
        if params.get("decision") != "accept":
            return HttpResponseRedirect(f"{redirect_uri}?{urlencode({'error': 'access_denied', 'state': state})}")
        inst.oauth_redirect_uri = redirect_uri
        inst.save(update_fields=["oauth_redirect_uri"])
        code = SandboxToken.objects.create(instance=inst, kind=SandboxToken.Kind.CODE, value=secrets.token_urlsafe(24),
                                           expires_at=timezone.now() + timedelta(seconds=30))
        return HttpResponseRedirect(f"{redirect_uri}?{urlencode({'code': code.value, 'state': state})}")
    return render(request, "mautic/sandbox/authorize.html", {"params": params.items(), "instance": inst})


@sandbox_view
def inbox(request):
    inst = records.instance()
    stats = records.objects(inst, "stat").order_by("-pk")[:50]
    contacts = {c.pk: c for c in records.objects(inst, "contact")}
    rows = [(stat, contacts.get(stat.data["lead_id"])) for stat in stats]
    return render(request, "mautic/sandbox/inbox.html", {
        "instance": inst, "rows": rows, "message": request.GET.get("message", ""),
        "queued": records.objects(inst, "queue").count()})


def _back(message):
    return HttpResponseRedirect(reverse("mautic_sandbox:inbox") + "?" + urlencode({"message": message}))


@sandbox_view
def open_email(request, stat_id):
    if request.method != "POST":
        return _back("")
    inst = records.instance()
    with transaction.atomic():
        stat = records.get(inst, "stat", stat_id)
        if stat is None:
            return HttpResponse("E-mail introuvable.", status=404)
        now = records.iso(timezone.now())
        records.touch(stat, is_read=True, date_read=stat.data.get("date_read") or now,
                      open_count=stat.data.get("open_count", 0) + 1)
        delivery.queue_event(inst, "mautic.email_on_open", {"stat": records.stat_json(stat)})
    return _back("E-mail ouvert.")


@sandbox_view
def click_email(request, stat_id):
    if request.method != "POST":
        return _back("")
    inst = records.instance()
    with transaction.atomic():
        stat = records.get(inst, "stat", stat_id)
        if stat is None:
            return HttpResponse("E-mail introuvable.", status=404)
        contact = records.get(inst, "contact", stat.data["lead_id"])
        email = records.get(inst, "email", stat.data["email_id"])
        url = stat.data.get("tokens", {}).get("{payment_link}") or "https://example.com/paiement"
        hit = records.create(inst, "hit", {"lead_id": stat.data["lead_id"], "email_id": stat.data["email_id"],
                                           "url": url, "date_hit": records.iso(timezone.now())})
        delivery.queue_event(inst, "mautic.page_on_hit", {"hit": {
            "dateHit": hit.data["date_hit"], "dateLeft": None, "page": None, "redirect": {"url": url},
            "email": records.email_json(email) if email else None,
            "lead": records.contact_json(contact) if contact else {"id": stat.data["lead_id"]},
            "url": url, "code": 302, "source": "email", "sourceId": stat.data["email_id"],
            "trackingId": secrets.token_hex(20)}})
    return _back("Lien cliqué.")


@sandbox_view
def unsubscribe(request, contact_id):
    if request.method != "POST":
        return _back("")
    inst = records.instance()
    with transaction.atomic():
        contact = records.get(inst, "contact", contact_id)
        if contact is None:
            return HttpResponse("Contact introuvable.", status=404)
        records.add_dnc(contact, 1, comments="Désinscrit depuis l'e-mail")
        contact.refresh_from_db()
        delivery.queue_event(inst, "mautic.lead_channel_subscription_changed", {
            "contact": records.contact_json(contact), "channel": "email", "old_status": "contactable",
            "new_status": "unsubscribed"})
    return _back("Contact désinscrit.")


@sandbox_view
def settings_page(request):
    if request.method != "POST":
        return _back("")
    inst = records.instance()
    inst.api_enabled = request.POST.get("api_enabled") == "on"
    inst.basic_auth_enabled = request.POST.get("basic_auth_enabled") == "on"
    inst.queue_mode = "command_process" if request.POST.get("queue_mode") == "command_process" else "immediate_process"
    inst.save()
    return _back("Réglages enregistrés.")


@sandbox_view
def process_queue(request):
    if request.method != "POST":
        return _back("")
    statuses = delivery.process_queue()
    return _back(f"{len(statuses)} livraison(s) de webhooks envoyée(s).")
