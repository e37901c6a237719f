"""Demo data for `make run`: hub records, demo users, then each system's sandbox connection.

Idempotent: everything is looked up by its natural key first, so a second run adds nothing. Refused
unless SANDBOX is on (production settings refuse SANDBOX, so this never runs against real systems).
"""

from base64 import b32decode
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from apps.core import providers, second_factor
from apps.core.capabilities import CAPABILITY_GROUPS
from apps.hub.models import Company, Contact, Invoice, Quote, SupplierBill

CLIENTS = [
    {
        "name": "Atelier Lumière SARL",
        "email": "contact@atelier-lumiere.example",
        "address1": "12 rue des Arts",
        "postal_code": "69002",
        "city": "Lyon",
        "vat_number": "FR40123456789",
        "contacts": [("Claire", "Moreau", "claire.moreau@atelier-lumiere.example", True)],
    },
    {
        "name": "Boulangerie Martin",
        "email": "bonjour@boulangerie-martin.example",
        "address1": "3 place du Marché",
        "postal_code": "33000",
        "city": "Bordeaux",
        "contacts": [
            ("Paul", "Martin", "paul@boulangerie-martin.example", True),
            ("Julie", "Martin", "julie@boulangerie-martin.example", False),
        ],
    },
    {
        "name": "Cabinet Dupont Architectes",
        "email": "agence@dupont-architectes.example",
        "address1": "45 avenue Foch",
        "postal_code": "75116",
        "city": "Paris",
        "contacts": [("Henri", "Dupont", "henri.dupont@dupont-architectes.example", True)],
    },
]

SUPPLIER = {
    "name": "Imprimerie du Centre",
    "email": "compta@imprimerie-du-centre.example",
    "address1": "8 boulevard de la République",
    "postal_code": "45000",
    "city": "Orléans",
    # The standard French test IBAN (valid checksum) and a real-format BIC: sandbox data only.
    "iban": "FR7630006000011234567890189",
    "bic": "AGRIFRPP",
}

QUOTES = [
    {
        "number": "DEV-DEMO-001",
        "client": "Atelier Lumière SARL",
        "title": "Refonte du site vitrine",
        "lines": [
            ("Maquettes et charte graphique", "1", "1800.00"),
            ("Intégration des pages (forfait par page)", "8", "350.00"),
        ],
    },
    {
        "number": "DEV-DEMO-002",
        "client": "Boulangerie Martin",
        "title": "Identité visuelle et enseigne",
        "lines": [("Création du logo", "1", "950.00"), ("Déclinaison sur l'enseigne", "1", "420.00")],
    },
]

INVOICE = {
    "number": "FAC-DEMO-001",
    "client": "Cabinet Dupont Architectes",
    "title": "Maintenance annuelle",
    "lines": [("Maintenance et hébergement (12 mois)", "12", "85.00")],
}

# username -> (password, capabilities). Demo credentials only: the command refuses to run without SANDBOX.
DEMO_USERS = {
    "demo": ("demo-console", list(CAPABILITY_GROUPS)),
    "comptable": ("demo-comptable", ["view_console", "send_documents", "send_emails", "pay_suppliers"]),
    "tresorerie": ("demo-tresorerie", ["view_console", "view_balances", "approve_payments"]),
}


# The demo users who move money need a second factor: a TOTP device with this fixed secret (base32, as
# authenticator applications and `oathtool -b` take it). Printed with the credentials; demo only.
DEMO_TOTP_SECRET = "HYPERVISUALCONSOLEDEMOTOTPSECRET"


class Command(BaseCommand):
    help = "Crée les données de démonstration (idempotent) : sociétés, devis, factures, utilisateurs, connexions."

    def handle(self, *args, **options):
        if not settings.SANDBOX:
            raise CommandError("La démonstration exige SANDBOX=1 (jamais en production).")
        with transaction.atomic():
            created = self.seed_hub()
            created += self.seed_users()
        self.stdout.write(f"Données du hub : {created} enregistrement(s) créé(s).")
        for provider in providers.all_providers():
            seed_demo = getattr(provider, "seed_demo", None)
            if callable(seed_demo):
                self.stdout.write(f"{provider.label} :")
                seed_demo(self.stdout)
        self.print_credentials()

    def seed_hub(self) -> int:
        created = 0
        companies = {}
        for data in CLIENTS:
            contacts = data["contacts"]
            fields = {key: value for key, value in data.items() if key != "contacts"}
            company, was_created = Company.objects.get_or_create(name=fields.pop("name"), defaults=fields)
            companies[company.name] = company
            created += was_created
            for first_name, last_name, email, is_primary in contacts:
                _, was_created = Contact.objects.get_or_create(
                    company=company, email=email,
                    defaults={"first_name": first_name, "last_name": last_name, "is_primary": is_primary},
                )
                created += was_created

        supplier_fields = dict(SUPPLIER, is_client=False, is_supplier=True)
        supplier, was_created = Company.objects.get_or_create(name=supplier_fields.pop("name"), defaults=supplier_fields)
        created += was_created

        today = timezone.localdate()
        for data in QUOTES:
            created += self.seed_document(
                Quote, data, companies, valid_until=today + timedelta(days=30)
            )
        created += self.seed_document(Invoice, INVOICE, companies, due_date=today + timedelta(days=30))

        threshold = settings.PAYMENT_APPROVAL_THRESHOLD
        bills = [
            ("IMP-2026-0412", "Flyers et cartes de visite", Decimal("480.00"), 15),
            # Above the approval threshold: paying it needs a second person.
            ("IMP-2026-0415", "Catalogue annuel (impression offset)", max(Decimal("2400.00"), threshold * 2), 30),
        ]
        for reference, description, amount, due_in_days in bills:
            _, was_created = SupplierBill.objects.get_or_create(
                supplier=supplier, reference=reference,
                defaults={"description": description, "amount": amount, "due_date": today + timedelta(days=due_in_days)},
            )
            created += was_created
        return created

    def seed_document(self, model, data, companies, **extra) -> int:
        document, was_created = model.objects.get_or_create(
            number=data["number"],
            defaults={"company": companies[data["client"]], "title": data["title"], **extra},
        )
        if not was_created:
            return 0
        for position, (description, quantity, unit_price) in enumerate(data["lines"]):
            document.lines.create(
                position=position, description=description, quantity=Decimal(quantity), unit_price=Decimal(unit_price)
            )
        document.recalculate_totals()
        return 1

    def seed_users(self) -> int:
        created = 0
        for username, (password, capabilities) in DEMO_USERS.items():
            user, was_created = User.objects.get_or_create(
                username=username, defaults={"is_staff": True, "email": f"{username}@console.example"}
            )
            if was_created:
                user.set_password(password)
                user.save(update_fields=["password"])
                created += 1
            user.groups.add(*Group.objects.filter(name__in=[CAPABILITY_GROUPS[c] for c in capabilities]))
            user = User.objects.get(pk=user.pk)  # fresh permission cache
            if second_factor.needs_second_factor(user) and second_factor.totp_device(user) is None:
                TOTPDevice.objects.create(
                    user=user, name="Démo", confirmed=True, key=b32decode(DEMO_TOTP_SECRET).hex()
                )
        return created

    def print_credentials(self):
        self.stdout.write("")
        self.stdout.write(f"Console : {settings.PUBLIC_BASE_URL}/admin/")
        for username, (password, capabilities) in DEMO_USERS.items():
            groups = ", ".join(CAPABILITY_GROUPS[c] for c in capabilities)
            self.stdout.write(f"  {username} / {password}  ({groups})")
        with_totp = [name for name in DEMO_USERS if second_factor.totp_device(User.objects.get(username=name))]
        if with_totp:
            self.stdout.write(
                f"Second facteur (TOTP) de {', '.join(with_totp)} : secret {DEMO_TOTP_SECRET}\n"
                f"  code du moment : .venv/bin/python manage.py demo_totp <utilisateur>"
                f"  (ou : oathtool --totp -b {DEMO_TOTP_SECRET})"
            )
