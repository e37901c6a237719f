"""Revolut resources for the kernel's sync engine: accounts, counterparties, transactions.

Each resource maps one page of the API into its mirror and reflects changed rows into the hub:
balances get a history snapshot, counterparties get linked to supplier companies by IBAN or local details,
transactions move our supplier payments (and their bills) through their states.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext_lazy as _

from apps.core.models import SyncRun
from apps.core.storable import fit_to_columns
from apps.core.sync import Page, SyncResource, upsert
from apps.revolut import balances, payments
from apps.revolut.bank_details import digits_only, normalize_iban
from apps.revolut.models import RevolutAccount, RevolutCounterparty, RevolutTransaction

COUNTERPARTY_PAGE = 100
TRANSACTION_PAGE = 1000
# An incremental transaction sync re-reads this far behind the newest transaction it saw, so state
# changes of recent transactions (pending -> completed) are caught even if their webhook was lost.
TRANSACTION_OVERLAP = timedelta(days=3)
FIRST_SYNC_HISTORY = timedelta(days=90)


def parse_time(value):
    return parse_datetime(value) if isinstance(value, str) else None


def iso(value) -> str:
    return value.isoformat().replace("+00:00", "Z")


def to_decimal(value) -> Decimal | None:
    return None if value is None else Decimal(str(value)).quantize(Decimal("0.01"))


class RevolutResource(SyncResource):
    # seen_at is read as "Revolut confirmed it lately": a balance's freshness, a pending transaction's last check.
    marks_unchanged_seen = True

    def remote_updated_at(self, item):
        return parse_time(item.get("updated_at"))

    def apply(self, record, webhook_event=None) -> None:
        raise NotImplementedError


class AccountsResource(RevolutResource):
    name = "accounts"
    label = _("Comptes")
    model = RevolutAccount

    def fetch_page(self, checkpoint):
        return Page(items=self.client.list_accounts(), checkpoint={}, done=True)

    def apply(self, record, webhook_event=None):
        payload = record.payload
        record.name = payload.get("name") or ""
        record.currency = payload.get("currency") or ""
        record.balance = to_decimal(payload.get("balance")) or Decimal("0")
        record.state = payload.get("state") or "active"
        record.save(update_fields=["name", "currency", "balance", "state"])
        balances.record_snapshot(record)


class CounterpartiesResource(RevolutResource):
    name = "counterparties"
    label = _("Bénéficiaires")
    model = RevolutCounterparty

    def fetch_page(self, checkpoint):
        created_before = checkpoint.get("created_before")
        items = self.client.list_counterparties(created_before=created_before, limit=COUNTERPARTY_PAGE)
        last = items[-1]["created_at"] if items else None
        # Next page: created_before = created_at of the last item; stop if that does not move (same timestamps).
        done = len(items) < COUNTERPARTY_PAGE or last is None or last == created_before
        return Page(items=items, checkpoint={"created_before": last} if last else {}, done=done)

    def is_deleted(self, item):
        return item.get("state") == "deleted"

    def apply(self, record, webhook_event=None):
        payload = record.payload
        account = next((a for a in payload.get("accounts") or [] if a.get("id")), {})
        record.name = payload.get("name") or account.get("name") or ""
        record.state = payload.get("state") or "created"
        record.payment_account_id = account.get("id", "")
        record.iban = normalize_iban(account.get("iban", ""))
        record.account_no = digits_only(account.get("account_no", ""))[:20]
        record.sort_code = digits_only(account.get("sort_code", ""))[:6]
        record.routing_number = digits_only(account.get("routing_number", ""))[:9]
        record.currency = account.get("currency", "")
        fit_to_columns(record, "name", "state", "iban", "currency")
        if record.company_id is None:
            record.company = supplier_with_bank_details(record)
        record.save(update_fields=["name", "state", "payment_account_id", "iban", "account_no", "sort_code",
                                   "routing_number", "currency", "company"])


def supplier_with_bank_details(counterparty: RevolutCounterparty):
    """The supplier whose IBAN, or local account number with its sort code / routing number, is this one's."""
    from apps.hub.models import Company

    if counterparty.iban:
        for company in Company.objects.filter(is_supplier=True).exclude(iban=""):
            if normalize_iban(company.iban) == counterparty.iban:
                return company
    elif counterparty.account_no:
        for company in Company.objects.filter(is_supplier=True).exclude(account_no=""):
            if (digits_only(company.account_no) == counterparty.account_no
                    and digits_only(company.sort_code) == counterparty.sort_code
                    and digits_only(company.routing_number) == counterparty.routing_number):
                return company
    return None


class TransactionsResource(RevolutResource):
    name = "transactions"
    label = _("Transactions")
    model = RevolutTransaction

    def initial_checkpoint(self, kind, last_success):
        high_water = parse_time((last_success or {}).get("high_water"))
        if kind == SyncRun.Kind.FULL:
            start = None
        elif high_water:
            start = high_water - TRANSACTION_OVERLAP
        else:
            start = timezone.now() - FIRST_SYNC_HISTORY
        return {"from": iso(start) if start else None, "to": None,
                "high_water": iso(high_water) if high_water else None}

    def fetch_page(self, checkpoint):
        to = checkpoint.get("to")
        items = self.client.list_transactions(from_=checkpoint.get("from"), to=to, count=TRANSACTION_PAGE)
        high_water = checkpoint.get("high_water")
        if items and (high_water is None or parse_time(items[0]["created_at"]) > parse_time(high_water)):
            high_water = items[0]["created_at"]
        next_to = to
        done = len(items) < TRANSACTION_PAGE
        if not done:
            # Newest first; the next page ends where this one stopped. `to` is exclusive, so end 1 ms after
            # the last item to re-read its timestamp (duplicates are merged by id), unless that would not
            # move the window back at all.
            last = parse_time(items[-1]["created_at"])
            candidate = last + timedelta(milliseconds=1)
            next_to = iso(candidate if to is None or candidate < parse_time(to) else last)
            done = next_to == to
        return Page(items=items, checkpoint={**checkpoint, "to": next_to, "high_water": high_water}, done=done)

    def final_checkpoint(self, checkpoint):
        return {"high_water": checkpoint.get("high_water")}

    def apply(self, record, webhook_event=None):
        mirror_transaction(record)
        payments.apply_transaction(record, webhook_event=webhook_event)


def mirror_transaction(record: RevolutTransaction) -> None:
    payload = record.payload
    leg = (payload.get("legs") or [{}])[0]
    record.type = payload.get("type") or ""
    record.state = payload.get("state") or ""
    record.request_id = (payload.get("request_id") or "")[:40]
    record.amount = to_decimal(leg.get("amount"))
    record.currency = leg.get("currency") or ""
    record.account_external_id = leg.get("account_id") or ""
    record.reference = (payload.get("reference") or "")[:140]
    record.created_at_remote = parse_time(payload.get("created_at"))
    record.completed_at = parse_time(payload.get("completed_at"))
    record.save(update_fields=["type", "state", "request_id", "amount", "currency", "account_external_id",
                               "reference", "created_at_remote", "completed_at"])


def store(connection, resource_class, items: list[dict], *, webhook_event=None) -> list:
    """Upsert a few items outside a SyncRun (webhook, lookup, balance refresh) and apply every one of them.

    Applying is idempotent, so unchanged rows are applied again: a payment looked up before its
    mirror existed still gets its state.
    """
    resource = resource_class(connection, run=None)
    upsert(resource, items, seen_at=timezone.now())
    ids = [resource.external_id(item) for item in items]
    records = list(resource.model.objects.filter(connection=connection, external_id__in=ids))
    for record in records:
        resource.apply(record, webhook_event=webhook_event)
    return records
