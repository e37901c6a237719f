"""The emulator's entities and their 5.x serialisation (NOTES §3): contacts with `fields.core/all` and
`doNotContact`, segments (`list`/`lists`), emails, email stats, page hits, DNC entries, webhooks."""

from __future__ import annotations

import re
import secrets
from datetime import UTC

from django.utils import timezone

from apps.mautic.sandbox.state import SandboxInstance, SandboxObject

CORE_FIELDS = [("firstname", "First Name", "text"), ("lastname", "Last Name", "text"), ("company", "Company", "text"),
               ("email", "Email", "email"), ("phone", "Phone", "tel")]
DEFAULT_EMAILS = [
    ("Relance 1 — facture {invoice_number}",
     "Bonjour {contactfield=firstname},\nla facture {invoice_number} de {amount_due} était due le {due_date}.\n"
     "Réglez-la ici : {payment_link}"),
    ("Relance 2 — facture {invoice_number}",
     "Bonjour {contactfield=firstname},\nsauf erreur, la facture {invoice_number} ({amount_due}) reste impayée "
     "depuis le {due_date}.\nLien de paiement : {payment_link}"),
    ("Dernière relance — facture {invoice_number}",
     "Bonjour {contactfield=firstname},\ndernier rappel avant recouvrement : facture {invoice_number}, "
     "{amount_due}, échue le {due_date}.\n{payment_link}"),
]
DNC_STATUS = {1: "unsubscribed", 2: "bounced", 3: "manual"}


def instance() -> SandboxInstance:
    found = SandboxInstance.objects.order_by("pk").first()
    if found is None:
        found = SandboxInstance.objects.create(password=secrets.token_urlsafe(12),
                                               oauth_client_id=f"1_{secrets.token_hex(12)}",
                                               oauth_client_secret=secrets.token_urlsafe(24))
    return found


def ensure_emails(inst: SandboxInstance) -> list[SandboxObject]:
    emails = list(objects(inst, "email"))
    if emails:
        return emails
    for subject, body in DEFAULT_EMAILS:
        emails.append(create(inst, "email", {"name": subject.split(" —")[0], "subject": subject, "plainText": body,
                                             "customHtml": "<p>" + body.replace("\n", "<br>") + "</p>",
                                             "isPublished": True, "emailType": "template"}))
    return emails


def iso(value) -> str | None:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00") if value else None


def sql(value) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def objects(inst, kind):
    return SandboxObject.objects.filter(instance=inst, kind=kind)


def get(inst, kind, object_id) -> SandboxObject | None:
    return objects(inst, kind).filter(pk=object_id).first()


def create(inst, kind, data) -> SandboxObject:
    return SandboxObject.objects.create(instance=inst, kind=kind, data=data, date_added=timezone.now())


def touch(obj: SandboxObject, **data) -> SandboxObject:
    obj.data = {**obj.data, **data}
    obj.date_modified = timezone.now()
    obj.save(update_fields=["data", "date_modified"])
    return obj


def find_contact_by_email(inst, email: str) -> SandboxObject | None:
    wanted = (email or "").strip().lower()
    if not wanted:
        return None
    return next((c for c in objects(inst, "contact")
                 if (c.data.get("fields", {}).get("email") or "").lower() == wanted), None)


def contact_json(obj: SandboxObject) -> dict:
    values = obj.data.get("fields", {})
    core = {alias: {"id": str(index + 1), "label": label, "alias": alias, "type": kind, "group": "core",
                    "object": "lead", "is_fixed": "1", "value": values.get(alias)}
            for index, (alias, label, kind) in enumerate(CORE_FIELDS)}
    return {
        "isPublished": True, "dateAdded": iso(obj.date_added), "dateModified": iso(obj.date_modified),
        "createdBy": 1, "createdByUser": "Admin Sandbox", "modifiedBy": 1 if obj.date_modified else None,
        "id": obj.pk, "points": 0, "color": None, "lastActive": None, "dateIdentified": iso(obj.date_added),
        "owner": None, "ipAddresses": [],
        "fields": {"core": core, "social": [], "personal": [], "professional": [],
                   "all": {"id": obj.pk, **{alias: values.get(alias) for alias, _label, _kind in CORE_FIELDS}}},
        "tags": [], "utmtags": [], "stage": None, "frequencyRules": [],
        "doNotContact": [{"id": d["id"], "reason": d["reason"], "comments": d.get("comments", ""),
                          "channel": d.get("channel", "email"), "channelId": d.get("channelId")}
                         for d in obj.data.get("dnc", [])],
    }


def segment_json(obj: SandboxObject) -> dict:
    return {"id": obj.pk, "isPublished": True, "dateAdded": iso(obj.date_added), "name": obj.data["name"],
            "alias": obj.data["alias"], "description": obj.data.get("description"), "filters": [],
            "isGlobal": False, "isPreferenceCenter": False, "category": None}


def email_json(obj: SandboxObject) -> dict:
    return {"id": obj.pk, "isPublished": obj.data.get("isPublished", True), "dateAdded": iso(obj.date_added),
            "name": obj.data["name"], "subject": obj.data["subject"], "language": "fr",
            "customHtml": obj.data.get("customHtml"), "plainText": obj.data.get("plainText"),
            "emailType": obj.data.get("emailType", "template"),
            "sentCount": objects(obj.instance, "stat").filter(data__email_id=obj.pk).count(),
            "readCount": objects(obj.instance, "stat").filter(data__email_id=obj.pk, data__is_read=True).count(),
            "variantParent": None, "variantChildren": []}


def hook_json(obj: SandboxObject) -> dict:
    return {"id": obj.pk, "name": obj.data["name"], "webhookUrl": obj.data["webhookUrl"], "secret": obj.data["secret"],
            "isPublished": obj.data.get("isPublished", True), "eventsOrderbyDir": "ASC",
            "triggers": obj.data.get("triggers", [])}


def stat_json(stat: SandboxObject) -> dict:
    inst = stat.instance
    contact, email = get(inst, "contact", stat.data["lead_id"]), get(inst, "email", stat.data["email_id"])
    return {"id": stat.pk, "emailAddress": stat.data.get("email_address"), "ipAddress": {},
            "dateSent": stat.data.get("date_sent"), "isRead": stat.data.get("is_read", False), "isFailed": False,
            "dateRead": stat.data.get("date_read"), "retryCount": 0, "source": "api", "openCount":
                stat.data.get("open_count", 0), "lastOpened": stat.data.get("date_read"),
            "sourceId": None, "trackingHash": stat.data["tracking_hash"], "viewedInBrowser": False,
            "lead": contact_json(contact) if contact else {"id": stat.data["lead_id"]},
            "email": email_json(email) if email else {"id": stat.data["email_id"]}}


def render_tokens(text: str, tokens: dict, contact: SandboxObject) -> str:
    values = contact.data.get("fields", {})
    text = re.sub(r"\{contactfield=(\w+)\}", lambda m: str(values.get(m.group(1)) or ""), text or "")
    for key, value in tokens.items():
        text = text.replace(key, str(value))
    return text


def add_dnc(contact: SandboxObject, reason: int, *, comments: str = "", channel_id=None) -> dict:
    existing = [d for d in contact.data.get("dnc", []) if d.get("channel") == "email"]
    if existing:
        return existing[0]
    entry = {"id": secrets.randbelow(10**6) + 1, "reason": reason, "comments": comments, "channel": "email",
             "channelId": channel_id, "dateAdded": iso(timezone.now())}
    touch(contact, dnc=[*contact.data.get("dnc", []), entry])
    return entry
