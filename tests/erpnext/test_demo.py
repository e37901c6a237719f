"""`manage.py demo` for ERPNext: a sandbox site with a year of documents, a connection, a first sync, links."""

from io import StringIO

import pytest

from apps.core.models import Connection
from apps.core.providers import get
from apps.erpnext.models import CustomerMirror, PartyLink, SalesInvoiceMirror
from apps.erpnext.sandbox.state import SandboxSite
from apps.hub.models import Company

from .conftest import BASE

pytestmark = pytest.mark.django_db


def test_seed_demo_fills_the_sandbox_connects_syncs_and_links_the_hub_companies(sandbox, settings):
    settings.SANDBOX_BASE_URL = BASE
    lumiere = Company.objects.create(name="Atelier Lumière SARL", vat_number="FR40123456789")
    martin = Company.objects.create(name="Boulangerie Martin")
    dupont = Company.objects.create(name="Cabinet Dupont Architectes")
    out = StringIO()
    get("erpnext").seed_demo(out)
    assert "synchronisés" in out.getvalue(), out.getvalue()
    connection = Connection.objects.get(slug="erpnext-sandbox")
    site = SandboxSite.objects.get(name__contains="démo")
    assert connection.secret("api_key") == site.api_key and site.webhook_url == connection.webhook_url()
    assert SalesInvoiceMirror.objects.filter(connection=connection).count() >= 300
    assert PartyLink.objects.get(company=lumiere).matched_by == "tax_id"
    assert PartyLink.objects.get(company=martin).status == "linked"
    assert set(PartyLink.objects.filter(company=dupont).values_list("status", flat=True)) == {"suggested"}
    count = CustomerMirror.objects.count()
    get("erpnext").seed_demo(StringIO())  # a second run adds nothing
    assert CustomerMirror.objects.count() == count and SandboxSite.objects.count() == 2
