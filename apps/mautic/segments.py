"""The console's three Mautic segments, kept in step with hub state for every linked contact.

    clients            contacts of companies marked as clients
    relances-en-cours  contacts of a company with an invoice under dunning (a reminder sent, still unpaid)
    payes              contacts of a company whose dunned invoice was paid, and none under dunning

Segments are looked up by alias and created when missing; their ids are cached in Connection.config.
Membership is read from Mautic (`GET /contacts/{id}/segments`: someone may have changed it there) and only
the differences are sent; SegmentMembership keeps what Mautic holds after that, for the pages.
"""

from __future__ import annotations

from apps.core.models import Connection
from apps.hub.models import Invoice
from apps.mautic.client import MauticClient, as_int
from apps.mautic.dunning import in_dunning
from apps.mautic.models import ContactLink, DunningStop, SegmentMembership

SEGMENTS = {"clients": "Clients", "relances-en-cours": "Relances en cours", "payes": "Payés"}


def desired(link: ContactLink) -> set[str]:
    company = link.contact.company
    wanted = set()
    if company.is_client:
        wanted.add("clients")
    invoices = Invoice.objects.filter(company=company, mautic_reminders__isnull=False).distinct()
    if any(in_dunning(invoice) for invoice in invoices):
        wanted.add("relances-en-cours")
    elif DunningStop.objects.filter(invoice__company=company, invoice__status=Invoice.Status.PAID).exists():
        wanted.add("payes")
    return wanted


def segment_ids(connection: Connection, client: MauticClient) -> dict[str, int]:
    cached = dict(connection.config.get("segment_ids") or {})
    if all(alias in cached for alias in SEGMENTS):
        return cached
    existing = {segment.get("alias"): as_int(segment.get("id")) for segment in client.list_segments()}
    for alias, name in SEGMENTS.items():
        if existing.get(alias):
            cached[alias] = existing[alias]
        else:
            cached[alias] = as_int(client.create_segment(name, alias).get("id"))
    Connection.objects.filter(pk=connection.pk).update(config={**connection.config, "segment_ids": cached})
    connection.config = {**connection.config, "segment_ids": cached}
    return cached


def sync_link(connection: Connection, client: MauticClient, link: ContactLink) -> tuple[set[str], set[str]]:
    """Add and remove the differences; returns (added, removed) aliases."""
    if not link.mautic_id or link.deleted_in_mautic:
        return set(), set()
    wanted = desired(link)
    ids = segment_ids(connection, client)
    current = client.contact_segment_aliases(link.mautic_id) & set(SEGMENTS)
    for alias in wanted - current:
        client.add_to_segment(ids[alias], link.mautic_id)
    for alias in current - wanted:
        client.remove_from_segment(ids[alias], link.mautic_id)
    SegmentMembership.objects.filter(link=link).exclude(segment__in=wanted).delete()
    for alias in wanted:
        SegmentMembership.objects.get_or_create(link=link, segment=alias)
    return wanted - current, current - wanted
