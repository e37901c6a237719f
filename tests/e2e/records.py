"""Records a journey starts from, written through the ORM into the database the servers read.

Journeys run with `transactional_db`, so every write here is committed at once and visible to the
web, worker and sandbox processes; the database is emptied (and its migration data restored) after each test.
"""

from __future__ import annotations

import secrets
from decimal import Decimal

from tests.e2e.browsing import User

# A syntactically valid French IBAN (checksum ok) that belongs to nobody we know.
SUPPLIER_IBAN = "FR7630006000011234567890189"
SUPPLIER_BIC = "AGRIFRPP"


def staff_user(username: str, *capabilities: str, superuser: bool = False) -> User:
    """A staff member holding the given capabilities through their groups (apps/core/capabilities.py)."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from django_otp.plugins.otp_totp.models import TOTPDevice

    from apps.core.capabilities import group_name
    from apps.core.second_factor import needs_second_factor

    password = secrets.token_urlsafe(12)
    user = get_user_model().objects.create_user(
        username=username, password=password, email=f"{username}@example.test",
        is_staff=True, is_superuser=superuser,
    )
    for capability in capabilities:
        user.groups.add(Group.objects.get(name=group_name(capability)))
    user = get_user_model().objects.get(pk=user.pk)  # fresh permission cache
    totp_key = ""
    if needs_second_factor(user):  # who moves money has an authenticator, as the console requires
        totp_key = TOTPDevice.objects.create(user=user, name="Authentificateur (e2e)", confirmed=True).key
    return User(username, password, totp_key=totp_key)


def client_company(name: str = "Atelier Lumière SARL"):
    from apps.hub.models import Company, Contact

    company = Company.objects.create(
        name=name, is_client=True, email="compta@atelier-lumiere.example", city="Lyon", postal_code="69002",
        address1="12 rue de la République",
    )
    Contact.objects.create(
        company=company, first_name="Claire", last_name="Martin", email="claire.martin@atelier-lumiere.example",
        is_primary=True,
    )
    return company


def draft_quote(company=None):
    from apps.hub.models import Quote, QuoteLine

    quote = Quote.objects.create(company=company or client_company(), title="Refonte du site vitrine")
    QuoteLine.objects.create(quote=quote, position=1, description="Maquettes", quantity=2, unit_price=Decimal("450.00"))
    QuoteLine.objects.create(
        quote=quote, position=2, description="Intégration", quantity=Decimal("1.5"), unit_price=Decimal("600.00")
    )
    quote.recalculate_totals()
    return quote


def supplier_bill(amount: Decimal, reference: str):
    from apps.hub.models import Company, SupplierBill

    supplier = Company.objects.create(
        name="Imprimerie Durand", is_client=False, is_supplier=True, email="factures@imprimerie-durand.example",
        iban=SUPPLIER_IBAN, bic=SUPPLIER_BIC, city="Nantes", postal_code="44000",
    )
    return SupplierBill.objects.create(
        supplier=supplier, reference=reference, description="Brochures salon", amount=amount, currency="EUR"
    )
