"""The ERPNext panel on a hub Company's page: its ERPNext customer/supplier, the ERP outstanding amount
next to the console's (difference highlighted when they disagree), and matches waiting for a confirmation."""

from django.utils.translation import gettext_lazy as _

from apps.core.models import Connection
from apps.core.record_panels import RecordPanel
from apps.erpnext import figures
from apps.erpnext.models import PartyLink
from apps.hub.models import Company


def company_panel_context(company, user):
    connection = Connection.objects.filter(provider="erpnext", is_active=True).order_by("pk").first()
    if connection is None:
        return None
    links = list(PartyLink.objects.filter(connection=connection, company=company).order_by("party_type", "party_name"))
    sections = []
    for party_type, label in PartyLink.PartyType.choices:
        linked = [link for link in links if link.party_type == party_type and link.status == PartyLink.Status.LINKED]
        if not linked:
            continue
        erp = figures.erp_outstanding(connection, party_type, [link.party_name for link in linked])
        sections.append({
            "label": label,
            "links": linked,
            "comparisons": figures.compare(erp, figures.console_outstanding(company, party_type)),
        })
    return {
        "connection": connection,
        "sections": sections,
        "suggestions": [link for link in links if link.status == PartyLink.Status.SUGGESTED],
        "can_confirm": user.has_perm("hub.change_company"),
    }


PANELS = [(Company, RecordPanel(_("ERPNext"), "erpnext/company_panel.html", company_panel_context,
                               sources=((PartyLink, "company"),)))]
