"""Typed calls to the Revolut Business API (v1 at /api/1.0, webhooks v2 at /api/2.0). Nothing else.

Every attempt first takes a slot in the shared per-business budget and makes sure the access token
is fresh (refreshed ahead of expiry, single-flight); a 401 refreshes once and repeats the call.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from django.views.decorators.debug import sensitive_variables

from apps.core.http import ApiClient, ApiError
from apps.core.models import Connection
from apps.revolut import oauth
from apps.revolut.rate_limit import RequestBudget


def error_code(exc: ApiError) -> int | None:
    """Revolut's numeric error code (3020 duplicate request, 3012 counterparty exists...)."""
    if isinstance(exc.payload, dict):
        try:
            return int(exc.payload.get("code"))
        except (TypeError, ValueError):
            return None
    return None


def _iso(value) -> str:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


class RevolutClient(ApiClient):
    def __init__(self, connection: Connection):
        self.root = oauth.api_root(connection)
        super().__init__(connection, base_url=self.root + "/api/1.0")
        self.budget = RequestBudget(str(connection.pk))

    # Kernel hooks ------------------------------------------------------------------------------------
    def before_request(self) -> None:
        oauth.ensure_fresh_token(self.connection)
        self.budget.acquire()

    @sensitive_variables()
    def auth_headers(self) -> dict[str, str]:
        token = self.connection.oauth_token.get("access_token")
        return {"Authorization": f"Bearer {token}"} if token else {}

    def on_unauthorized(self, response) -> bool:
        rejected = self.connection.oauth_token.get("access_token") or ""
        oauth.ensure_fresh_token(self.connection, rejected_token=rejected)
        return True

    def v2(self, path: str) -> str:
        return f"{self.root}/api/2.0/{path.lstrip('/')}"

    # Accounts ----------------------------------------------------------------------------------------
    def list_accounts(self) -> list[dict]:
        return self.get("accounts").json()

    def get_account(self, account_id: str) -> dict:
        return self.get(f"accounts/{account_id}").json()

    # Counterparties ----------------------------------------------------------------------------------
    def list_counterparties(self, *, created_before=None, limit: int = 100, iban: str | None = None,
                            bic: str | None = None, account_no: str | None = None, sort_code: str | None = None,
                            name: str | None = None) -> list[dict]:
        params = {"limit": limit}
        if created_before:
            params["created_before"] = _iso(created_before)
        if iban:
            params["iban"] = iban
            if bic:  # only allowed together with iban
                params["bic"] = bic
        if account_no:
            params["account_no"] = account_no
            if sort_code:  # only allowed together with account_no
                params["sort_code"] = sort_code
        if name:
            params["name"] = name
        return self.get("counterparties", params=params).json()

    def get_counterparty(self, counterparty_id: str) -> dict:
        return self.get(f"counterparty/{counterparty_id}").json()

    def create_counterparty(self, body: dict) -> dict:
        return self.post("counterparty", json=body).json()

    # Payments and transactions -----------------------------------------------------------------------
    def pay(self, *, request_id: str, account_id: str, counterparty_id: str, amount: Decimal, currency: str,
            reference: str, receiver_account_id: str = "") -> dict:
        receiver = {"counterparty_id": counterparty_id}
        if receiver_account_id:
            receiver["account_id"] = receiver_account_id
        body = {
            "request_id": request_id,
            "account_id": account_id,
            "receiver": receiver,
            "amount": amount,
            "currency": currency,
            "reference": reference[:140],
        }
        # Never retried by the base on a maybe-sent failure: the caller looks the request_id up instead.
        return self.post("pay", json=body).json()

    def list_transactions(self, *, from_=None, to=None, count: int | None = None, request_id: str | None = None,
                          account: str | None = None) -> list[dict]:
        params = {}
        if from_ is not None:
            params["from"] = _iso(from_)
        if to is not None:
            params["to"] = _iso(to)
        if count is not None:
            params["count"] = count
        if request_id:
            params["request_id"] = request_id
        if account:
            params["account"] = account
        return self.get("transactions", params=params).json()

    def get_transaction(self, transaction_id: str) -> dict:
        return self.get(f"transaction/{transaction_id}").json()

    # Webhooks v2 -------------------------------------------------------------------------------------
    def create_webhook(self, url: str, events: list[str]) -> dict:
        return self.post(self.v2("webhooks"), json={"url": url, "events": events}).json()

    def list_webhooks(self) -> list[dict]:
        return self.get(self.v2("webhooks")).json()

    def get_webhook(self, webhook_id: str) -> dict:
        return self.get(self.v2(f"webhooks/{webhook_id}")).json()

    def delete_webhook(self, webhook_id: str) -> None:
        self.delete(self.v2(f"webhooks/{webhook_id}"))

    def list_failed_webhook_events(self, webhook_id: str, *, limit: int = 100, created_before=None) -> list[dict]:
        """Deliveries Revolut gave up on (after 3 retries), newest first, kept 21 days."""
        params = {"limit": limit}
        if created_before:
            params["created_before"] = _iso(created_before)
        return self.get(self.v2(f"webhooks/{webhook_id}/failed-events"), params=params).json()

    def rotate_webhook_secret(self, webhook_id: str, expiration_period: str = "P0D") -> dict:
        return self.post(
            self.v2(f"webhooks/{webhook_id}/rotate-signing-secret"), json={"expiration_period": expiration_period}
        ).json()

    # Sandbox simulations (sandbox host only) ---------------------------------------------------------
    def simulate_transaction(self, transaction_id: str, action: str) -> dict:
        return self.post(f"sandbox/transactions/{transaction_id}/{action}").json()

    def sandbox_topup(self, *, account_id: str, amount: Decimal, currency: str, reference: str = "") -> dict:
        return self.post("sandbox/topup", json={
            "account_id": account_id, "amount": amount, "currency": currency, "reference": reference,
        }).json()
