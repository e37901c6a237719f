"""Which hub Company an ERPNext Customer or Supplier is: tax id first, then exact name.

A unique match is linked at once; several candidates (two companies with that tax id or name, or two
ERPNext parties claiming one company) become suggestions a person confirms with one click. A link a person
confirmed is never undone by a later sync. Tax ids compare without spaces, dots or case; names compare
exactly, trimmed and case-insensitively.
"""

from __future__ import annotations

import re

from django.db import transaction

from apps.erpnext.models import PartyLink
from apps.hub.models import Company


def normalized_tax_id(value) -> str:
    return re.sub(r"[\s.\-]", "", str(value or "")).upper()


def candidates(payload: dict, party_type: str) -> tuple[list[Company], str]:
    tax_id = normalized_tax_id(payload.get("tax_id"))
    if tax_id:
        by_tax = [c for c in Company.objects.exclude(vat_number="").only("id", "name", "vat_number")
                  if normalized_tax_id(c.vat_number) == tax_id]
        if by_tax:
            return by_tax, PartyLink.MatchedBy.TAX_ID
    label = (payload.get("customer_name") if party_type == "Customer" else payload.get("supplier_name")) or ""
    label = label.strip()
    if not label:
        return [], ""
    return list(Company.objects.filter(name__iexact=label)), PartyLink.MatchedBy.NAME


@transaction.atomic
def match_party(connection, party_type: str, payload: dict) -> None:
    name = str(payload["name"])
    label = (payload.get("customer_name") if party_type == "Customer" else payload.get("supplier_name")) or ""
    existing = PartyLink.objects.filter(connection=connection, party_type=party_type, party_name=name)
    if existing.filter(matched_by=PartyLink.MatchedBy.USER).exists():
        existing.update(party_label=label)
        return
    companies, matched_by = candidates(payload, party_type)
    # What the data says now replaces what it said before (a tax id added, a name corrected).
    existing.exclude(company__in=companies).delete()
    if not companies:
        return
    unique = len(companies) == 1
    for company in companies:
        rivals = PartyLink.objects.filter(connection=connection, company=company, party_type=party_type) \
            .exclude(party_name=name)
        confirmed_rival = rivals.filter(status=PartyLink.Status.LINKED, matched_by=PartyLink.MatchedBy.USER).exists()
        if rivals.filter(status=PartyLink.Status.LINKED).exclude(matched_by=PartyLink.MatchedBy.USER).exists():
            # Two ERPNext parties claim this company: neither is linked until someone says which.
            rivals.filter(status=PartyLink.Status.LINKED).update(status=PartyLink.Status.SUGGESTED)
            unique = False
        elif rivals.filter(status=PartyLink.Status.SUGGESTED).exists():
            unique = False
        status = PartyLink.Status.LINKED if unique and not confirmed_rival else PartyLink.Status.SUGGESTED
        PartyLink.objects.update_or_create(
            connection=connection, company=company, party_type=party_type, party_name=name,
            defaults={"party_label": label, "status": status, "matched_by": matched_by},
        )


@transaction.atomic
def confirm(link: PartyLink, user) -> PartyLink:
    """A person says this suggestion is right: it becomes the company's link, its rivals go. Idempotent."""
    link = PartyLink.objects.select_for_update().get(pk=link.pk)
    if link.status == PartyLink.Status.LINKED and link.matched_by == PartyLink.MatchedBy.USER:
        return link
    PartyLink.objects.filter(connection=link.connection, company=link.company, party_type=link.party_type) \
        .exclude(pk=link.pk).delete()
    PartyLink.objects.filter(connection=link.connection, party_type=link.party_type, party_name=link.party_name,
                             status=PartyLink.Status.SUGGESTED).exclude(pk=link.pk).delete()
    link.status, link.matched_by, link.confirmed_by = PartyLink.Status.LINKED, PartyLink.MatchedBy.USER, user
    link.save(update_fields=["status", "matched_by", "confirmed_by", "updated_at"])
    return link
