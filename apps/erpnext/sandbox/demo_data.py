"""A year of ERPNext documents for the emulator, built from the field catalogue.

Every field set here is checked against the v15 catalogue (a field ERPNext does not have, or a Select
value outside its options, is a bug here, not data), so what the emulator serves has the vendor's shape.
Deterministic for a given seed and day. `populate` makes the demo (customers, suppliers, items, two
warehouses with stock, a few hundred sales invoices over a year with payments, some cancelled and
amended); `bulk_sales_invoices` makes many invoices fast for the benchmark.
"""

from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from apps.erpnext import catalogue
from apps.erpnext.sandbox import state
from apps.erpnext.sandbox.state import SandboxDocument, SandboxSite

COMPANY = "Hypervisual SA"
WAREHOUSES = ["Magasin Lyon - HV", "Entrepôt Paris - HV"]
# The hub demo's companies appear here as ERPNext knows them: one by tax id under another spelling, one by
# exact name, one twice under the same name (ambiguous: a person confirms), and the hub's supplier.
DEMO_CUSTOMERS = [
    ("Atelier Lumière", "FR40123456789", "EUR"),
    ("Boulangerie Martin", "", "EUR"),
    ("Cabinet Dupont Architectes", "", "EUR"),
    ("Cabinet Dupont Architectes", "", "EUR"),
]
OTHER_CUSTOMERS = [
    "Brasserie des Canuts", "Clinique Vétérinaire du Parc", "Domaine de la Croix", "Éditions Rive Gauche",
    "Ferronnerie Bernard", "Garage du Rhône", "Hôtel Les Tilleuls", "Institut Beauté Lys", "Jardinerie Verte",
    "Kiosque Alpin GmbH", "Lumen Studio Ltd", "Maison Gaspard", "Nordic Design AB", "Optique Vision Plus",
]
FOREIGN = {"Kiosque Alpin GmbH": "CHF", "Lumen Studio Ltd": "USD", "Nordic Design AB": "USD"}
SUPPLIERS = [("Imprimerie du Centre", ""), ("Papeterie Lafayette", "FR12345678901"), ("Transports Rapides", ""),
             ("Cloud Hébergement SAS", ""), ("Atelier Bois & Fer", "")]
ITEMS = [
    ("AFF-A2", "Affiche A2 quadri", 40), ("AFF-A3", "Affiche A3 quadri", 60), ("CDV-500", "Cartes de visite (500)", 25),
    ("FLY-A5", "Flyers A5 (1000)", 30), ("CAT-32", "Catalogue 32 pages", 15), ("KAK-85", "Kakémono 85x200", 8),
    ("BAN-300", "Banderole 300x80", 5), ("STK-RND", "Stickers ronds (250)", 50), ("ENV-C5", "Enveloppes C5 (500)", 20),
    ("PAP-A4", "Papier A4 90 g (ramette)", 100), ("TSH-LOGO", "T-shirt logo", 30), ("MUG-LOGO", "Mug logo", 24),
    ("CAR-VOE", "Cartes de vœux (100)", 10), ("PLV-COMPT", "PLV comptoir", 6), ("MEN-A4", "Menu A4 plastifié", 40),
    ("SRV-DESIGN", "Création graphique (heure)", 0), ("SRV-WEB", "Maintenance site (mois)", 0),
    ("ROL-ADH", "Rouleau adhésif", 12), ("CLS-A4", "Classeur A4", 30), ("BLO-A5", "Bloc-notes A5", 45),
]


def checked(doctype: str, data: dict) -> dict:
    """`data`, after checking each key is a v15 field of `doctype` and each Select value one of its options."""
    columns = catalogue.columns(doctype)
    tables = {f["fieldname"] for f in catalogue.doctypes()[doctype]["fields"]
              if f["fieldtype"] in catalogue.TABLE_TYPES}
    for key, value in data.items():
        if key in tables:
            continue
        if key not in columns:
            raise ValueError(f"{doctype} n'a pas de champ {key!r} en v15")
        options = columns[key].get("options") or ""
        if columns[key].get("fieldtype") == "Select" and value not in (None, "") and "\n" in options:
            if value not in options.split("\n"):
                raise ValueError(f"{doctype}.{key} : {value!r} hors des options {options.splitlines()}")
    return data


def stamp(day: date, rng: random.Random) -> str:
    moment = datetime.combine(day, time(8)) + timedelta(seconds=rng.randrange(10 * 3600),
                                                        microseconds=rng.randrange(10**6))
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")


def put(site, doctype, name, data, modified) -> SandboxDocument:
    """Store a document as it stands today, with the `modified` it would have (no webhook: history)."""
    data = checked(doctype, data)
    full = {"name": name, "owner": "Administrator", "creation": modified, "modified": modified,
            "modified_by": "Administrator", "idx": 0, "docstatus": 0, **data}
    document, _ = SandboxDocument.objects.update_or_create(
        site=site, doctype=doctype, name=name,
        defaults={"modified": modified, "docstatus": int(full["docstatus"]), "data": full},
    )
    return document


def invoice_data(customer: dict, posting: date, total: Decimal, paid: Decimal, today: date, *, docstatus=1) -> dict:
    net = (total / Decimal("1.2")).quantize(Decimal("0.01"))
    data = {
        "customer": customer["name"], "customer_name": customer["customer_name"], "company": COMPANY,
        "posting_date": posting.isoformat(), "due_date": (posting + timedelta(days=30)).isoformat(),
        "currency": customer["default_currency"], "conversion_rate": 1.0,
        "party_account_currency": customer["default_currency"],
        "total": float(net), "net_total": float(net), "total_taxes_and_charges": float(total - net),
        "grand_total": float(total), "rounded_total": float(total), "base_grand_total": float(total),
        "outstanding_amount": float(total - paid), "paid_amount": float(paid), "docstatus": docstatus,
        "debit_to": "411000 - Clients - HV", "is_return": 0, "title": customer["customer_name"],
    }
    data["status"] = state.invoice_status(data, today)
    return data


def populate(site: SandboxSite, *, today: date | None = None, invoices: int = 300, seed: int = 15) -> dict:
    """The demo site's documents; idempotent (documents are keyed by name). Returns counts per doctype."""
    today = today or state.site_today()
    rng = random.Random(seed)
    start = today - timedelta(days=365)
    counts: dict[str, int] = {}

    def count(doctype):
        counts[doctype] = counts.get(doctype, 0) + 1

    for warehouse in WAREHOUSES:
        put(site, "Warehouse", warehouse, {"warehouse_name": warehouse.split(" - ")[0], "company": COMPANY,
                                           "is_group": 0, "disabled": 0}, stamp(start, rng))
        count("Warehouse")

    customers = []
    names = [*DEMO_CUSTOMERS, *[(name, "", FOREIGN.get(name, "EUR")) for name in OTHER_CUSTOMERS]]
    for number, (customer_name, tax_id, currency) in enumerate(names, start=1):
        name = f"CUST-{start.year}-{number:05d}"
        data = {"customer_name": customer_name, "customer_type": "Company", "customer_group": "Commercial",
                "territory": "France" if currency == "EUR" else "Rest Of The World", "tax_id": tax_id,
                "default_currency": currency, "disabled": 0, "is_frozen": 0,
                "email_id": f"compta{number}@client.example"}
        put(site, "Customer", name, data, stamp(start + timedelta(days=number), rng))
        customers.append({"name": name, **data})
        count("Customer")

    suppliers = []
    for number, (supplier_name, tax_id) in enumerate(SUPPLIERS, start=1):
        name = f"SUP-{start.year}-{number:05d}"
        data = {"supplier_name": supplier_name, "supplier_type": "Company", "supplier_group": "Services",
                "country": "France", "default_currency": "EUR", "tax_id": tax_id, "disabled": 0, "on_hold": 0}
        put(site, "Supplier", name, data, stamp(start + timedelta(days=number), rng))
        suppliers.append({"name": name, **data})
        count("Supplier")

    for code, label, safety in ITEMS:
        is_stock = 0 if code.startswith("SRV-") else 1
        put(site, "Item", code, {"item_code": code, "item_name": label, "item_group": "Produits",
                                 "stock_uom": "Nos" if is_stock else "Hour", "is_stock_item": is_stock,
                                 "is_sales_item": 1, "is_purchase_item": is_stock, "disabled": 0,
                                 "safety_stock": float(safety), "standard_rate": float(rng.randrange(5, 400)),
                                 "valuation_rate": float(rng.randrange(2, 200))}, stamp(start, rng))
        count("Item")
        if not is_stock:
            continue
        for warehouse in WAREHOUSES:
            actual = rng.choice([0, safety // 2, safety * 2, safety * 3, safety * 4 + 7, safety * 5 + 3])
            ordered = rng.choice([0, 0, 10, 25])
            put(site, "Bin", f"bin-{code}-{WAREHOUSES.index(warehouse) + 1}".lower(), {
                "item_code": code, "warehouse": warehouse, "actual_qty": float(actual), "ordered_qty": float(ordered),
                "reserved_qty": 0.0, "projected_qty": float(actual + ordered), "stock_uom": "Nos",
                "valuation_rate": 12.5, "stock_value": float(actual * 12.5),
            }, stamp(today - timedelta(days=rng.randrange(1, 20)), rng))
            count("Bin")

    payment_number = 0
    for number in range(1, invoices + 1):
        posting = start + timedelta(days=int(365 * number / invoices))
        customer = customers[rng.randrange(len(customers))]
        if number % 37 == 0:  # the ambiguous pair both buy
            customer = customers[2 + number % 2]
        total = Decimal(rng.randrange(12000, 980000)) / 100
        age = (today - posting).days
        paid = total if rng.random() < min(0.95, age / 120) else (total / 2 if rng.random() < 0.2 else Decimal(0))
        paid = paid.quantize(Decimal("0.01"))
        name = f"ACC-SINV-{posting.year}-{number:05d}"
        draft = number > invoices - 3
        data = invoice_data(customer, posting, total, Decimal(0) if draft else paid, today, docstatus=0 if draft else 1)
        modified = stamp(posting + timedelta(days=min(age, 45) if paid else 0), rng)
        if number % 61 == 0 and not draft:  # cancelled, then amended with a corrected amount
            put(site, "Sales Invoice", name, {**data, "docstatus": 2, "status": "Cancelled"}, modified)
            amended = invoice_data(customer, posting, total - 10, paid if paid < total - 10 else total - 10, today)
            put(site, "Sales Invoice", f"{name}-1", {**amended, "amended_from": name}, stamp(posting, rng))
            count("Sales Invoice")
        else:
            put(site, "Sales Invoice", name, data, modified)
        count("Sales Invoice")
        if paid and not draft:
            payment_number += 1
            put(site, "Payment Entry", f"ACC-PAY-{posting.year}-{payment_number:05d}", {
                "payment_type": "Receive", "posting_date": min(posting + timedelta(days=20), today).isoformat(),
                "company": COMPANY, "mode_of_payment": "Virement bancaire", "party_type": "Customer",
                "party": customer["name"], "party_name": customer["customer_name"], "paid_amount": float(paid),
                "received_amount": float(paid), "paid_from_account_currency": customer["default_currency"],
                "paid_to_account_currency": customer["default_currency"], "total_allocated_amount": float(paid),
                "unallocated_amount": 0.0, "reference_no": name, "docstatus": 1, "status": "Submitted",
            }, modified)
            count("Payment Entry")

    for number in range(1, invoices // 5 + 1):
        posting = start + timedelta(days=int(365 * number / (invoices // 5)))
        supplier = suppliers[rng.randrange(len(suppliers))]
        total = Decimal(rng.randrange(5000, 300000)) / 100
        paid = total if (today - posting).days > 50 else Decimal(0)
        net = (total / Decimal("1.2")).quantize(Decimal("0.01"))
        data = {"supplier": supplier["name"], "supplier_name": supplier["supplier_name"], "company": COMPANY,
                "posting_date": posting.isoformat(), "due_date": (posting + timedelta(days=45)).isoformat(),
                "bill_no": f"F{posting:%y%m}-{number:03d}", "currency": "EUR", "conversion_rate": 1.0,
                "party_account_currency": "EUR", "total": float(net), "net_total": float(net),
                "grand_total": float(total), "rounded_total": float(total), "base_grand_total": float(total),
                "outstanding_amount": float(total - paid), "paid_amount": float(paid), "docstatus": 1,
                "credit_to": "401000 - Fournisseurs - HV", "is_paid": 0, "is_return": 0}
        data["status"] = state.invoice_status(data, today)
        put(site, "Purchase Invoice", f"ACC-PINV-{posting.year}-{number:05d}", data, stamp(posting, rng))
        count("Purchase Invoice")
    return counts


def bulk_sales_invoices(site: SandboxSite, total: int, *, today: date | None = None, batch: int = 5000) -> None:
    """`total` submitted sales invoices over a year, inserted in batches (benchmark data)."""
    today = today or state.site_today()
    rng = random.Random(total)
    customer = {"name": "CUST-BENCH-00001", "customer_name": "Client Banc d'Essai", "default_currency": "EUR"}
    rows = []
    for number in range(1, total + 1):
        posting = today - timedelta(days=365 - int(365 * number / total))
        amount = Decimal(rng.randrange(1000, 500000)) / 100
        data = invoice_data(customer, posting, amount, amount if number % 3 else Decimal(0), today)
        name = f"ACC-SINV-B-{number:07d}"
        modified = f"{posting.isoformat()} 09:00:00.{number % 1000000:06d}"
        rows.append(SandboxDocument(site=site, doctype="Sales Invoice", name=name, modified=modified, docstatus=1,
                                    data={"name": name, "modified": modified, "creation": modified, "docstatus": 1,
                                          "owner": "Administrator", "modified_by": "Administrator", "idx": 0,
                                          **data}))
        if len(rows) >= batch:
            SandboxDocument.objects.bulk_create(rows)
            rows = []
    SandboxDocument.objects.bulk_create(rows)
