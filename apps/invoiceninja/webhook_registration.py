"""Registering the console's webhooks in Invoice Ninja, idempotently (one registration per event)."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.utils.translation import gettext as _

from apps.invoiceninja.client import InvoiceNinjaClient
from apps.invoiceninja.webhooks import EVENT_IDS, REGISTERED_EVENTS, SECRET_HEADER, target_url


@dataclass
class RegistrationReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return _("Webhooks Invoice Ninja : %(created)s créé(s), %(updated)s mis à jour, %(unchanged)s déjà en place.") % {
            "created": len(self.created), "updated": len(self.updated), "unchanged": len(self.unchanged),
        }


def existing_registrations(client: InvoiceNinjaClient) -> list[dict]:
    registrations, page = [], 1
    while True:
        listing = client.list_webhooks(page=page)
        registrations += listing.items
        if listing.is_last:
            return registrations
        page += 1


def register_webhooks(connection) -> RegistrationReport:
    """Make sure each event has one live registration to our URL carrying the current secret header."""
    if not connection.webhook_secrets:
        raise ValueError(_("La connexion n'a pas de secret de webhook : ajoutez-en un avant d'enregistrer."))
    client = InvoiceNinjaClient(connection)
    headers = {SECRET_HEADER: connection.webhook_secrets[0]}
    live = [
        hook for hook in existing_registrations(client)
        if not hook.get("is_deleted") and not hook.get("archived_at")
    ]
    report = RegistrationReport()
    registered_ids = {}
    for event in REGISTERED_EVENTS:
        url = target_url(connection, event)
        event_id = EVENT_IDS[event]
        match = next((h for h in live if h.get("target_url") == url and str(h.get("event_id")) == str(event_id)), None)
        if match is None:
            hook = client.create_webhook(target_url=url, event_id=event_id, headers=headers)
            report.created.append(event)
        elif (match.get("headers") or {}) != headers:
            hook = client.update_webhook(match["id"], target_url=url, event_id=event_id, headers=headers)
            report.updated.append(event)
        else:
            hook = match
            report.unchanged.append(event)
        registered_ids[event] = hook.get("id")
    connection.config = {**connection.config, "webhook_ids": registered_ids}
    connection.save(update_fields=["config", "updated_at"])
    return report
