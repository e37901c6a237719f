"""The emulated REST API under /sandbox/mautic/api/ and the OAuth2 token endpoint (NOTES §1–§3, §5).

Quirks kept on purpose: API switched off -> 403 `api_disabled`; Basic switched off -> 403 `access_denied`;
expired bearer -> 401 `invalid_grant`; lists keyed by id with a string `total`; `POST /contacts/new`
updating the contact with the same email (200) instead of creating one (201); PATCH on a missing contact
-> 404; PATCH giving a contact another one's email merges the two (the other survives); single send
ignoring do-not-contact; rate limit -> 429 in the same envelope; `Mautic-Version`
on every answer; refresh tokens rotated (the old one is revoked) and a 400 `invalid_grant` once revoked.
"""

from __future__ import annotations

import base64
import hmac
import json
import math
import re
import secrets
import time
from datetime import timedelta

from django.db import transaction
from django.http import JsonResponse
from django.utils import timezone

from apps.core.sandbox import sandbox_view
from apps.mautic.sandbox import delivery, records
from apps.mautic.sandbox.state import SandboxToken

VERSION = "5.1.1"
REFRESH_LIFETIME = timedelta(days=14)
_calls_per_hour: dict[str, int] = {}


class Refusal(Exception):
    def __init__(self, status, message, kind=None, details=None):
        super().__init__(message)
        self.status, self.message, self.kind, self.details = status, message, kind, details

    def response(self):
        error = {"code": self.status, "message": self.message, "details": self.details or [], "type": self.kind}
        return answer({"errors": [error]}, self.status)


def answer(body, status=200, **headers):
    response = JsonResponse(body, status=status, safe=False)
    response["Mautic-Version"] = VERSION
    for key, value in headers.items():
        response[key] = value
    return response


def body_of(request) -> dict:
    if request.content_type == "application/json":
        if not request.body:
            return {}
        try:
            parsed = json.loads(request.body)
        except ValueError:
            raise Refusal(400, "Request body contains invalid JSON.") from None
        return parsed if isinstance(parsed, dict) else {"_list": parsed}
    return request.POST.dict()


# Authentication --------------------------------------------------------------------------------
def authenticate(request, inst):
    if not inst.api_enabled:
        raise Refusal(403, "API disabled. You need to enable the API in the API settings of Mautic's Configuration.",
                      "api_disabled")
    header = request.headers.get("Authorization", "")
    if header.startswith("Basic "):
        if not inst.basic_auth_enabled:
            raise Refusal(403, "Basic authentication is disabled.", "access_denied")
        try:
            username, _sep, password = base64.b64decode(header[6:]).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            raise Refusal(401, "Invalid credentials.", "access_denied") from None
        if not (hmac.compare_digest(username, inst.username) and hmac.compare_digest(password, inst.password)):
            raise Refusal(401, "Invalid credentials.", "access_denied")
    elif header.startswith("Bearer "):
        token = SandboxToken.objects.filter(instance=inst, kind=SandboxToken.Kind.ACCESS, value=header[7:]).first()
        if token is None or token.revoked:
            raise Refusal(401, "The access token provided is invalid.", "invalid_grant")
        if token.expires_at <= timezone.now():
            raise Refusal(401, "The access token provided has expired.", "invalid_grant")
    else:
        raise Refusal(401, "API authorization denied.", "access_denied")
    if inst.rate_limit:
        key = f"{inst.pk}:{int(time.time() // 3600)}"
        _calls_per_hour[key] = _calls_per_hour.get(key, 0) + 1
        if _calls_per_hour[key] > inst.rate_limit:
            raise Refusal(429, f"You exceeded the rate limit of {inst.rate_limit} API calls per hour.")


def issue_tokens(inst) -> dict:
    now = timezone.now()
    access = SandboxToken.objects.create(instance=inst, kind=SandboxToken.Kind.ACCESS, value=secrets.token_urlsafe(32),
                                         expires_at=now + timedelta(seconds=inst.access_token_lifetime))
    refresh = SandboxToken.objects.create(instance=inst, kind=SandboxToken.Kind.REFRESH,
                                          value=secrets.token_urlsafe(32), expires_at=now + REFRESH_LIFETIME)
    return {"access_token": access.value, "expires_in": inst.access_token_lifetime, "token_type": "bearer",
            "scope": "", "refresh_token": refresh.value}


def oauth_error(error, description, status=400):
    return answer({"error": error, "error_description": description}, status)


@sandbox_view
def token(request):
    if request.method != "POST":
        return oauth_error("invalid_request", "Invalid request method.")
    inst = records.instance()
    fields = request.POST
    if not (hmac.compare_digest(fields.get("client_id", ""), inst.oauth_client_id)
            and hmac.compare_digest(fields.get("client_secret", ""), inst.oauth_client_secret)):
        return oauth_error("invalid_client", "The client credentials are invalid")
    grant = fields.get("grant_type")
    now = timezone.now()
    with transaction.atomic():
        if grant == "authorization_code":
            code = SandboxToken.objects.select_for_update().filter(
                instance=inst, kind=SandboxToken.Kind.CODE, value=fields.get("code", "")).first()
            if code is None or code.revoked or code.expires_at <= now:
                return oauth_error("invalid_grant", "Code doesn't exist or is invalid for the client")
            if fields.get("redirect_uri") != inst.oauth_redirect_uri:
                return oauth_error("redirect_uri_mismatch", "The redirect URI parameter is required.")
            code.revoked = True
            code.save(update_fields=["revoked"])
            return answer(issue_tokens(inst))
        if grant == "refresh_token":
            refresh = SandboxToken.objects.select_for_update().filter(
                instance=inst, kind=SandboxToken.Kind.REFRESH, value=fields.get("refresh_token", "")).first()
            if refresh is None or refresh.revoked or refresh.expires_at <= now:
                return oauth_error("invalid_grant", "Invalid refresh token")
            refresh.revoked = True
            refresh.save(update_fields=["revoked"])
            return answer(issue_tokens(inst))
    return oauth_error("invalid_request", "Invalid grant_type parameter or parameter missing")


# Contacts --------------------------------------------------------------------------------------
def contact_or_404(inst, contact_id):
    contact = records.get(inst, "contact", contact_id)
    if contact is None:
        raise Refusal(404, "Item was not found.")
    return contact


def list_contacts(request, inst):
    query = request.GET
    contacts = list(records.objects(inst, "contact").order_by("pk"))
    search = query.get("search", "")
    if search.startswith("email:"):
        wanted = search[6:].strip().lower()
        contacts = [c for c in contacts if (c.data["fields"].get("email") or "").lower() == wanted]
    elif search.startswith("ids:"):
        ids = {int(i) for i in search[4:].split(",") if i.strip().isdigit()}
        contacts = [c for c in contacts if c.pk in ids]
    if query.get("where[0][col]") == "date_modified" and query.get("where[0][expr]") == "gte":
        since = query.get("where[0][val]", "")
        contacts = [c for c in contacts if records.sql(c.date_modified or c.date_added) >= since]
    if query.get("orderByDir", "ASC").upper() == "DESC":
        contacts.reverse()
    start, limit = int(query.get("start") or 0), int(query.get("limit") or 30)
    page = contacts[start:start + limit]
    return answer({"total": str(len(contacts)), "contacts": {str(c.pk): records.contact_json(c) for c in page}})


CONTACT_FIELDS = ("email", "firstname", "lastname", "phone", "company")


def contact_fields(body) -> dict:
    return {key: str(body[key]) for key in CONTACT_FIELDS if key in body and body[key] not in (None, "")}


def create_contact(request, inst):
    body = body_of(request)
    fields = contact_fields(body)
    email = fields.get("email", "")
    if email and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email):
        raise Refusal(400, "email: A valid email is required.", details={"email": ["A valid email is required."]})
    existing = records.find_contact_by_email(inst, email)
    if existing is not None:  # the upsert quirk (NOTES §3.2)
        contact = records.touch(existing, fields={**existing.data["fields"], **fields})
        delivery.queue_event(inst, "mautic.lead_post_save_update", {"contact": records.contact_json(contact)})
        return answer({"contact": records.contact_json(contact)}, 200)
    contact = records.create(inst, "contact", {"fields": fields, "dnc": []})
    delivery.queue_event(inst, "mautic.lead_post_save_new", {"contact": records.contact_json(contact)})
    return answer({"contact": records.contact_json(contact)}, 201, Location=f"/api/contacts/{contact.pk}")


def edit_contact(request, inst, contact_id):
    contact = contact_or_404(inst, contact_id)
    fields = contact_fields(body_of(request))
    other = records.find_contact_by_email(inst, fields.get("email", ""))
    if other is not None and other.pk != contact.pk:
        # The new email belongs to another contact: Mautic merges the two and answers with the survivor,
        # announcing the loser's deletion (NOTES §3.2, mautic#7466).
        merged = {**other.data["fields"], **{k: v for k, v in contact.data["fields"].items() if v}, **fields}
        loser = records.contact_json(contact)
        contact.delete()
        delivery.queue_event(inst, "mautic.lead_post_delete", {"id": contact_id, "contact": {**loser, "id": None}})
        contact = records.touch(other, fields=merged)
        delivery.queue_event(inst, "mautic.lead_post_save_update", {"contact": records.contact_json(contact)})
        return answer({"contact": records.contact_json(contact)})
    contact = records.touch(contact, fields={**contact.data["fields"], **fields})
    delivery.queue_event(inst, "mautic.lead_post_save_update", {"contact": records.contact_json(contact)})
    return answer({"contact": records.contact_json(contact)})


def delete_contact(request, inst, contact_id):
    contact = contact_or_404(inst, contact_id)
    serialised = records.contact_json(contact)
    contact.delete()
    delivery.queue_event(inst, "mautic.lead_post_delete", {"id": contact_id, "contact": {**serialised, "id": None}})
    return answer({"contact": {**serialised, "id": None}})


def dnc(request, inst, contact_id, channel, verb):
    contact = contact_or_404(inst, contact_id)
    body = body_of(request)
    if verb == "add":
        reason = int(body.get("reason") or 3)
        if reason not in records.DNC_STATUS:
            raise Refusal(400, "Invalid reason.")
        records.add_dnc(contact, reason, comments=str(body.get("comments") or ""), channel_id=body.get("channelId"))
        status = records.DNC_STATUS[reason]
        found = True
    else:
        found = bool(contact.data.get("dnc"))
        records.touch(contact, dnc=[])
        status = "contactable"
    contact.refresh_from_db()
    delivery.queue_event(inst, "mautic.lead_channel_subscription_changed", {
        "contact": records.contact_json(contact), "channel": channel, "old_status": "contactable",
        "new_status": status})
    payload = {"contact": records.contact_json(contact)}
    if verb == "remove":
        payload["recordFound"] = found
    return answer(payload)


def activity_events(inst, contact) -> list[dict]:
    events = []
    for stat in records.objects(inst, "stat").filter(data__lead_id=contact.pk):
        extra = {"stat": {"id": stat.pk, "email_id": stat.data["email_id"], "subject": stat.data.get("subject"),
                          "dateSent": stat.data["date_sent"], "dateRead": stat.data.get("date_read"),
                          "isRead": stat.data.get("is_read", False), "idHash": stat.data["tracking_hash"]}}
        events.append({"event": "email.sent", "eventId": f"email.sent{stat.pk}", "eventType": "Email sent",
                       "eventPriority": 0, "timestamp": stat.data["date_sent"], "featured": False, "extra": extra})
        if stat.data.get("is_read"):
            events.append({"event": "email.read", "eventId": f"email.read{stat.pk}", "eventType": "Email read",
                           "eventPriority": 0, "timestamp": stat.data["date_read"], "featured": False, "extra": extra})
    for hit in records.objects(inst, "hit").filter(data__lead_id=contact.pk):
        events.append({"event": "page.hit", "eventId": f"page.hit{hit.pk}", "eventType": "Page hit",
                       "timestamp": hit.data["date_hit"], "extra": {"hit": {
                           "dateHit": hit.data["date_hit"], "url": hit.data["url"], "source": "email",
                           "sourceId": hit.data["email_id"], "email_id": hit.data["email_id"]}}})
    for entry in contact.data.get("dnc", []):
        events.append({"event": "lead.donotcontact", "eventId": f"lead.donotcontact{entry['id']}",
                       "eventType": "Do not contact", "timestamp": entry["dateAdded"], "extra": {"dnc": entry}})
    return events


def activity(request, inst, contact_id):
    contact = contact_or_404(inst, contact_id)
    query = request.GET
    included = [v for k, v in query.items() if k.startswith("filters[includeEvents]")]
    events = activity_events(inst, contact)
    if included:
        events = [e for e in events if e["event"] in included]
    date_from = query.get("filters[dateFrom]")
    if date_from:
        events = [e for e in events if records.sql(_parse(e["timestamp"])) >= date_from]
    events.sort(key=lambda e: e["timestamp"], reverse=query.get("order[1]", "DESC").upper() == "DESC")
    page, limit = max(1, int(query.get("page") or 1)), max(1, int(query.get("limit") or 25))
    return answer({"events": events[(page - 1) * limit: page * limit], "filters": {}, "order": ["timestamp", "DESC"],
                   "types": {"email.sent": "Email sent", "email.read": "Email read", "page.hit": "Page hit",
                             "lead.donotcontact": "Do not contact"},
                   "total": len(events), "page": page, "limit": limit,
                   "maxPages": max(1, math.ceil(len(events) / limit))})


def _parse(value):
    from apps.mautic.activity import parse_when

    return parse_when(value)


def contact_segments(request, inst, contact_id):
    contact = contact_or_404(inst, contact_id)
    segments = [records.get(inst, "segment", s) for s in contact.data.get("segments", [])]
    return answer({"total": len([s for s in segments if s]),
                   "lists": {str(s.pk): records.segment_json(s) for s in segments if s}})


# Segments --------------------------------------------------------------------------------------
def list_segments(request, inst):
    segments = list(records.objects(inst, "segment"))
    search = request.GET.get("search", "").lower()
    if search:
        segments = [s for s in segments if search in s.data["alias"] or search in s.data["name"].lower()]
    return answer({"total": str(len(segments)), "lists": {str(s.pk): records.segment_json(s) for s in segments}})


def create_segment(request, inst):
    body = body_of(request)
    if not body.get("name"):
        raise Refusal(400, "name: A name is required.", details={"name": ["A name is required."]})
    alias = body.get("alias") or re.sub(r"[^a-z0-9]+", "-", body["name"].lower()).strip("-")
    segment = records.create(inst, "segment", {"name": body["name"], "alias": alias})
    return answer({"list": records.segment_json(segment)}, 201)


def segment_membership(request, inst, segment_id, contact_id, verb):
    segment = records.get(inst, "segment", segment_id)
    contact = records.get(inst, "contact", contact_id)
    if segment is None or contact is None:
        raise Refusal(404, "Item was not found.")
    members = set(contact.data.get("segments", []))
    changed = (segment.pk not in members) if verb == "add" else (segment.pk in members)
    members = members | {segment.pk} if verb == "add" else members - {segment.pk}
    records.touch(contact, segments=sorted(members))
    if changed:
        delivery.queue_event(inst, "mautic.lead_list_change", {
            "contact": records.contact_json(contact), "segment": records.segment_json(segment),
            "action": "added" if verb == "add" else "removed"})
    return answer({"success": 1})


# Emails --------------------------------------------------------------------------------------------
def list_emails(request, inst):
    emails = list(records.objects(inst, "email"))
    return answer({"total": str(len(emails)), "emails": {str(e.pk): records.email_json(e) for e in emails}})


def get_email(request, inst, email_id):
    email = records.get(inst, "email", email_id)
    if email is None:
        raise Refusal(404, "Item was not found.")
    return answer({"email": records.email_json(email)})


def send_email(request, inst, email_id, contact_id):
    """Transactional single send: tokens filled, do-not-contact IGNORED (like the real one)."""
    email = records.get(inst, "email", email_id)
    contact = records.get(inst, "contact", contact_id)
    if email is None or contact is None:
        raise Refusal(404, "Item was not found.")
    tokens = body_of(request).get("tokens") or {}
    if not isinstance(tokens, dict):
        tokens = {}
    tokens = {(k if k.startswith("{") else "{" + k + "}"): str(v) for k, v in tokens.items()}
    now = records.iso(timezone.now())
    subject = records.render_tokens(email.data["subject"], tokens, contact)
    stat = records.create(inst, "stat", {
        "email_id": email.pk, "lead_id": contact.pk, "email_address": contact.data["fields"].get("email"),
        "tracking_hash": secrets.token_hex(7), "date_sent": now, "is_read": False, "date_read": None,
        "open_count": 0, "subject": subject, "tokens": tokens,
        "content": records.render_tokens(email.data.get("plainText", ""), tokens, contact)})
    delivery.queue_event(inst, "mautic.email_on_send", {
        "email": records.email_json(email), "contact": records.contact_json(contact),
        "contentHash": secrets.token_hex(16), "idHash": stat.data["tracking_hash"], "subject": subject,
        "source": ["api", None], "headers": {}, "content": stat.data["content"], "tokens": tokens})
    return answer({"success": True})


# Webhooks ------------------------------------------------------------------------------------------
def list_hooks(request, inst):
    hooks = list(records.objects(inst, "hook"))
    return answer({"total": str(len(hooks)), "hooks": {str(h.pk): records.hook_json(h) for h in hooks}})


def create_hook(request, inst):
    body = body_of(request)
    if not body.get("webhookUrl") or not body.get("name"):
        raise Refusal(400, "webhookUrl: A URL is required.", details={"webhookUrl": ["A URL is required."]})
    hook = records.create(inst, "hook", {"name": body["name"], "webhookUrl": body["webhookUrl"],
                                         "secret": body.get("secret") or secrets.token_hex(16),
                                         "triggers": list(body.get("triggers") or []),
                                         "isPublished": bool(int(body.get("isPublished", 1)))})
    return answer({"hook": records.hook_json(hook)}, 201)


def edit_hook(request, inst, hook_id):
    hook = records.get(inst, "hook", hook_id)
    if hook is None:
        raise Refusal(404, "Item was not found.")
    body = body_of(request)
    changes = {key: body[key] for key in ("secret", "triggers", "webhookUrl", "name") if key in body}
    if "isPublished" in body:
        changes["isPublished"] = bool(int(body["isPublished"]))
    return answer({"hook": records.hook_json(records.touch(hook, **changes))})


ROUTES = [
    (r"contacts", {"GET": list_contacts}),
    (r"contacts/new", {"POST": create_contact}),
    (r"contacts/(\d+)", {"GET": lambda r, i, cid: answer({"contact": records.contact_json(contact_or_404(i, cid))})}),
    (r"contacts/(\d+)/edit", {"PATCH": edit_contact}),
    (r"contacts/(\d+)/delete", {"DELETE": delete_contact}),
    (r"contacts/(\d+)/dnc/(\w+)/(add|remove)", {"POST": dnc}),
    (r"contacts/(\d+)/activity", {"GET": activity}),
    (r"contacts/(\d+)/segments", {"GET": contact_segments}),
    (r"segments", {"GET": list_segments}),
    (r"segments/new", {"POST": create_segment}),
    (r"segments/(\d+)/contact/(\d+)/(add|remove)", {"POST": segment_membership}),
    (r"emails", {"GET": list_emails}),
    (r"emails/(\d+)", {"GET": get_email}),
    (r"emails/(\d+)/contact/(\d+)/send", {"POST": send_email}),
    (r"hooks", {"GET": list_hooks}),
    (r"hooks/new", {"POST": create_hook}),
    (r"hooks/(\d+)/edit", {"PATCH": edit_hook}),
]


@sandbox_view
def api(request, path):
    inst = records.instance()
    try:
        for pattern, methods in ROUTES:
            match = re.fullmatch(pattern, path.strip("/"))
            if match is None:
                continue
            handler = methods.get(request.method)
            if handler is None:
                raise Refusal(405, f"No route found for \"{request.method} /api/{path}\": Method Not Allowed")
            authenticate(request, inst)
            args = [int(g) if g.isdigit() else g for g in match.groups()]
            with transaction.atomic():
                return handler(request, inst, *args)
        raise Refusal(404, f"Requested URL not found: /api/{path}")
    except Refusal as refusal:
        return refusal.response()
