"""Stateful emulator of the Revolut Business API, mounted under /sandbox/revolut/ when SANDBOX is on.

Same paths as the vendor (/api/1.0/..., webhooks v2 at /api/2.0/...), same error shapes
(`{"code", "message"}`, OAuth-style on the token endpoint), same quirks: 2-minute consent codes,
RS256 client assertions checked against the uploaded certificate, 40-minute tokens whose refresh
revokes the previous access token, 60 requests per minute (429 code 3162), duplicate request_id
(400 code 3020), 3012 on an existing Revtag counterparty, local UK/US bank details checked like IBANs
(400 code 3000), webhook deliveries retried 3 times then listed by failed-events. Plus two pages for
people: the consent screen and a list of pending transactions to complete or decline by hand.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from functools import wraps
from urllib.parse import urlencode, urlsplit

import jwt
from cryptography import x509
from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.http import HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.views.decorators.csp import csp_override

from apps.core.sandbox import sandbox_view
from apps.revolut import sandbox_state as bank
from apps.revolut.bank_details import (
    validate_bic,
    validate_iban,
    validate_routing_number,
    validate_sort_code,
    validate_uk_account_no,
    validate_us_account_no,
)
from apps.revolut.sandbox_models import (
    SandboxAccessToken,
    SandboxAccount,
    SandboxApp,
    SandboxAuthCode,
    SandboxCounterparty,
    SandboxGrant,
    SandboxTransaction,
    SandboxWebhook,
    SandboxWebhookDelivery,
)

app_name = "revolut_sandbox"

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
CODE_VALIDITY = timedelta(minutes=2)
WEBHOOK_EVENTS = ("TransactionCreated", "TransactionStateChanged", "PayoutLinkCreated", "PayoutLinkStateChanged")
MAX_WEBHOOKS = 10
MAX_SIGNING_SECRETS = 3


def error(status: int, code: int, message: str, **extra) -> JsonResponse:
    return JsonResponse({"code": code, "message": message, **extra}, status=status)


def oauth_error(error_code: str, description: str) -> JsonResponse:
    return JsonResponse({"error": error_code, "error_description": description}, status=400)


def unauthorized() -> JsonResponse:
    return JsonResponse({"message": "The request should be authorized."}, status=401)


def token_seconds() -> int:
    return int(getattr(settings, "REVOLUT_SANDBOX_TOKEN_SECONDS", 2399))


# Plumbing: authentication, rate limit, clock -------------------------------------------------------------------
def authenticated_app(request) -> SandboxApp | None:
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        return None
    token = (
        SandboxAccessToken.objects.select_related("grant__app")
        .filter(token=header[7:].strip(), revoked=False, grant__revoked=False, expires_at__gt=timezone.now())
        .first()
    )
    return token.grant.app if token else None


def over_rate_limit(client_id: str) -> int | None:
    """Seconds until the next minute when this client made more than the allowed requests, else None."""
    limit = int(getattr(settings, "REVOLUT_SANDBOX_RATE_LIMIT", 60))
    now = timezone.now()
    key = f"sandbox:revolut:rate:{client_id}:{now:%Y%m%d%H%M}"
    cache.add(key, 0, timeout=90)
    if cache.incr(key) > limit:
        return 60 - now.second
    return None


def api(*methods):
    """An authenticated API endpoint: method check, bearer token, 60/min budget, due state changes first."""

    def decorator(view):
        @sandbox_view
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if request.method not in methods:
                return error(405, 2101, f"Method {request.method} not allowed")
            app = authenticated_app(request)
            if app is None:
                return unauthorized()
            wait = over_rate_limit(app.client_id)
            if wait is not None:
                response = error(429, 3162, "Request rate limit has been reached. Try again later.",
                                 error_id=str(bank.uuid.uuid4()))
                response["Retry-After"] = str(wait)
                return response
            bank.advance_due_transactions()
            bank.deliver_due_soon()
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


def json_body(request) -> dict | None:
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def parse_moment(value: str | None):
    """ISO 8601 date or date-time, as /transactions accepts them."""
    if not value:
        return None
    moment = parse_datetime(value)
    if moment is None:
        day = parse_date(value)
        if day is None:
            raise ValueError(value)
        moment = datetime.combine(day, time.min)
    return moment if timezone.is_aware(moment) else timezone.make_aware(moment, UTC)


def amount_of(value) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        amount = Decimal(str(value)).quantize(Decimal("0.01"))
    except InvalidOperation:
        return None
    return amount if amount > 0 else None


# Consent and tokens --------------------------------------------------------------------------------------------
@sandbox_view
def app_confirm(request):
    params = request.GET if request.method == "GET" else request.POST
    app = SandboxApp.objects.filter(client_id=params.get("client_id", "")).first()
    redirect_uri = params.get("redirect_uri", "")
    problem = None
    if app is None:
        problem = "ClientID inconnu : téléversez d'abord le certificat (paramètres API de la sandbox)."
    elif redirect_uri != app.redirect_uri:
        problem = "L'URI de redirection ne correspond pas à celle enregistrée pour ce certificat."
    elif params.get("response_type") != "code":
        problem = "response_type=code attendu."
    if problem:
        return render(request, "revolut/sandbox/app_confirm.html", {"problem": problem}, status=400)
    if request.method == "POST":
        extra = {}
        if params.get("state") and getattr(settings, "REVOLUT_SANDBOX_ECHO_STATE", True):
            # Whether Revolut echoes `state` is UNCONFIRMED (NOTES §2.3); the emulator echoes it unless told not to.
            extra["state"] = params["state"]
        if "deny" in request.POST:
            return HttpResponseRedirect(f"{redirect_uri}?{urlencode({'error': 'access_denied', **extra})}")
        code = SandboxAuthCode.objects.create(code=bank.new_token(), app=app, redirect_uri=redirect_uri,
                                              created_at=timezone.now())
        return HttpResponseRedirect(f"{redirect_uri}?{urlencode({'code': code.code, **extra})}")
    return consent_page(request, app, params)


def consent_page(request, app: SandboxApp, params):
    """The consent form. Its answer redirects to the app's redirect URI, on the console's origin: this
    page's policy must let a form end there (the emulator is served under the console's CSP, whose
    `form-action 'self'` would block it; Revolut's real page allows its apps' redirect URIs)."""
    redirect_to = urlsplit(app.redirect_uri)
    policy = dict(settings.SECURE_CSP)
    policy["form-action"] = [*policy.get("form-action", ()), f"{redirect_to.scheme}://{redirect_to.netloc}"]

    @csp_override(policy)
    def page(request):
        return render(request, "revolut/sandbox/app_confirm.html", {"app": app, "params": params})

    return page(request)


def verify_client_assertion(request) -> tuple[SandboxApp | None, JsonResponse | None]:
    if request.POST.get("client_assertion_type") != ASSERTION_TYPE:
        return None, oauth_error("invalid_request", "client_assertion_type must be " + ASSERTION_TYPE)
    assertion = request.POST.get("client_assertion", "")
    try:
        header = jwt.get_unverified_header(assertion)
        unverified = jwt.decode(assertion, options={"verify_signature": False})
    except jwt.InvalidTokenError:
        return None, oauth_error("invalid_request", "client_assertion is not a JWT")
    app = SandboxApp.objects.filter(client_id=str(unverified.get("sub", ""))).first()
    if header.get("alg") != "RS256" or app is None or not isinstance(unverified.get("exp"), (int, float)):
        return None, oauth_error("unauthorized_client", "Failed to authorise client")
    public_key = x509.load_pem_x509_certificate(app.certificate_pem.encode()).public_key()
    try:
        claims = jwt.decode(assertion, public_key, algorithms=["RS256"], audience="https://revolut.com",
                            options={"require": ["exp", "iss", "sub", "aud"]})
    except jwt.ExpiredSignatureError:
        expired = datetime.fromtimestamp(unverified["exp"], tz=UTC)
        return None, oauth_error("invalid_request", f"The Token has expired on {expired:%a %b %d %H:%M:%S UTC %Y}.")
    except jwt.InvalidTokenError:
        return None, oauth_error("unauthorized_client", "Failed to authorise client")
    if claims.get("iss") != urlsplit(app.redirect_uri).hostname:
        return None, oauth_error("unauthorized_client", "Failed to authorise client")
    return app, None


@sandbox_view
def auth_token(request):
    if request.method != "POST":
        return error(405, 2101, "Method not allowed")
    if not request.content_type == "application/x-www-form-urlencoded":
        return oauth_error("invalid_request", "application/x-www-form-urlencoded body expected")
    app, refusal = verify_client_assertion(request)
    if refusal:
        return refusal
    grant_type = request.POST.get("grant_type")
    now = timezone.now()
    if grant_type == "authorization_code":
        code = SandboxAuthCode.objects.filter(code=request.POST.get("code", ""), app=app, used=False).first()
        if code is None or code.created_at < now - CODE_VALIDITY:
            return oauth_error("invalid_grant", "The authorisation code is invalid or has expired")
        code.used = True
        code.save(update_fields=["used"])
        grant = SandboxGrant.objects.create(app=app, refresh_token=bank.new_token())
        access = SandboxAccessToken.objects.create(grant=grant, token=bank.new_token(),
                                                   expires_at=now + timedelta(seconds=token_seconds()))
        return JsonResponse({"access_token": access.token, "token_type": "bearer", "expires_in": token_seconds(),
                             "refresh_token": grant.refresh_token})
    if grant_type == "refresh_token":
        grant = SandboxGrant.objects.filter(refresh_token=request.POST.get("refresh_token", ""), app=app,
                                            revoked=False).first()
        if grant is None:
            return oauth_error("invalid_grant", "The refresh token is invalid or has been revoked")
        # A refresh invalidates the previous access token at once, even if it has not expired.
        grant.access_tokens.update(revoked=True)
        access = SandboxAccessToken.objects.create(grant=grant, token=bank.new_token(),
                                                   expires_at=now + timedelta(seconds=token_seconds()))
        return JsonResponse({"access_token": access.token, "token_type": "bearer", "expires_in": token_seconds()})
    return oauth_error("unsupported_grant_type", "grant_type must be authorization_code or refresh_token")


# Accounts -----------------------------------------------------------------------------------------------------------
@api("GET")
def accounts(request):
    return JsonResponse([bank.account_payload(a) for a in SandboxAccount.objects.all()], safe=False)


@api("GET")
def account(request, account_id):
    found = SandboxAccount.objects.filter(pk=account_id).first()
    return JsonResponse(bank.account_payload(found)) if found else error(404, 3006, "Account not found")


# Counterparties -----------------------------------------------------------------------------------------------------
@api("GET")
def counterparties(request):
    items = SandboxCounterparty.objects.exclude(state="deleted")
    try:
        limit = int(request.GET.get("limit", 100))
        created_before = parse_moment(request.GET.get("created_before"))
    except ValueError:
        return error(400, 2101, "Invalid request parameters")
    if not 1 <= limit <= 1000 or ("bic" in request.GET and "iban" not in request.GET):
        return error(400, 2101, "Invalid request parameters")
    if created_before:
        items = items.filter(created_at__lt=created_before)
    if request.GET.get("name"):
        items = items.filter(name__icontains=request.GET["name"])
    if "sort_code" in request.GET and "account_no" not in request.GET:
        return error(400, 2101, "sort_code param can be used only combined with account_no param")
    selected = list(items.order_by("-created_at")[: 1000])
    if request.GET.get("account_no"):
        account_no, sort_code = request.GET["account_no"], request.GET.get("sort_code", "").replace("-", "")
        selected = [c for c in selected if any(
            a.get("account_no") == account_no and (not sort_code or a.get("sort_code") == sort_code)
            for a in c.accounts)]
    if request.GET.get("iban"):
        iban = request.GET["iban"].replace(" ", "").upper()
        bic = request.GET.get("bic", "").upper()
        selected = [c for c in selected if any(
            a.get("iban") == iban and (not bic or a.get("bic", "").upper() == bic) for a in c.accounts)]
    return JsonResponse([bank.counterparty_payload(c) for c in selected[:limit]], safe=False)


@api("GET", "DELETE")
def counterparty(request, counterparty_id):
    found = SandboxCounterparty.objects.filter(pk=counterparty_id).exclude(state="deleted").first()
    if found is None:
        return error(404, 3006, "Counterparty not found")
    if request.method == "DELETE":
        found.state = "deleted"
        found.save(update_fields=["state", "updated_at"])
        return HttpResponse(status=204)
    return JsonResponse(bank.counterparty_payload(found))


@api("POST")
def create_counterparty(request):
    body = json_body(request)
    if body is None:
        return error(400, 3000, "Invalid JSON body")
    now = timezone.now()
    if body.get("revtag"):
        if body.get("profile_type") not in ("personal", "business") or not body.get("name"):
            return error(400, 3000, "profile_type and name are required with revtag")
        expected_name = bank.TEST_REVTAG_USERS.get(body["revtag"])
        if expected_name is None or expected_name.lower() != str(body["name"]).strip().lower():
            return error(404, 3006, "Counterparty not found: name does not match the Revtag")
        existing = SandboxCounterparty.objects.filter(revtag=body["revtag"]).exclude(state="deleted").first()
        if existing:
            return error(422, 3012, "This counterparty already exists", params={"counterparty_id": str(existing.id)})
        created = SandboxCounterparty.objects.create(
            name=expected_name, profile_type=body["profile_type"], revtag=body["revtag"], country="GB",
            created_at=now, accounts=[{"id": str(bank.uuid.uuid4()), "name": expected_name, "type": "revolut",
                                       "currency": "EUR"}],
        )
        return JsonResponse(bank.counterparty_payload(created))
    name = body.get("company_name") or ""
    individual = body.get("individual_name") or {}
    if name and individual or not (name or individual):
        return error(400, 3000, "Exactly one of company_name or individual_name is required")
    if name and len(re.findall(r"[^\W\d_]", name)) < 2:
        return error(400, 3000, "company_name must contain at least 2 letters")
    if not body.get("bank_country") or not body.get("currency"):
        return error(400, 3000, "bank_country and currency are required")
    if not body.get("iban") and not body.get("account_no"):
        return error(400, 3000, "iban or account_no is required")
    display = name or f"{individual.get('first_name', '')} {individual.get('last_name', '')}".strip()
    try:
        account_data = bank_account_from(body, display)
    except ValidationError as exc:
        return error(400, 3000, exc.messages[0])
    created = SandboxCounterparty.objects.create(
        name=display, profile_type="business" if name else "personal", country=body["bank_country"],
        created_at=now, accounts=[account_data],
    )
    return JsonResponse(bank.counterparty_payload(created))


# bank_country: (currency, bank code field, account number check, bank code check, address required).
# From business.yaml: sort_code "required for GBP accounts", routing_number "for USD accounts"; the
# GET /counterparties/fields examples give their formats and say a US account needs an address.
LOCAL_CORRIDORS = {
    "GB": ("GBP", "sort_code", validate_uk_account_no, validate_sort_code, False),
    "US": ("USD", "routing_number", validate_us_account_no, validate_routing_number, True),
}


def bank_account_from(body: dict, display: str) -> dict:
    """The CounterpartyAccount a bank-details body creates; ValidationError (English, like Revolut) if invalid."""
    address = body.get("address")
    if address is not None and (not isinstance(address, dict) or not address.get("country")
                                or not address.get("postcode")):
        raise ValidationError("address.country and address.postcode are required")
    if body.get("iban"):
        try:
            iban = validate_iban(body["iban"])
            bic = validate_bic(body["bic"]) if body.get("bic") else ""
        except ValidationError:
            raise ValidationError(f"{body['iban']} is not a valid IBAN or BIC") from None
        account = bank.bank_account(iban, bic, body["currency"], display)
    else:
        account = {"id": str(bank.uuid.uuid4()), "name": display, "bank_country": body["bank_country"],
                   "currency": body["currency"], "type": "external", "account_no": str(body["account_no"])}
        corridor = LOCAL_CORRIDORS.get(str(body["bank_country"]))
        if corridor is not None:
            currency, code_field, check_account_no, check_code, address_required = corridor
            if body["currency"] != currency:
                raise ValidationError(f"Currency {body['currency']} is not supported for {body['bank_country']} "
                                      "local bank details")
            try:
                account["account_no"] = check_account_no(account["account_no"])
            except ValidationError:
                raise ValidationError(f"{account['account_no']} is not a valid account number") from None
            try:
                account[code_field] = check_code(str(body.get(code_field) or ""))
            except ValidationError:
                raise ValidationError(f"{code_field} is missing or invalid") from None
            if address_required and not address:
                raise ValidationError("address is required for this country")
    if address:
        account["address"] = address
    return account


# Payments and transactions ----------------------------------------------------------------------------------------
@api("POST")
def pay(request):
    body = json_body(request)
    if body is None:
        return error(400, 3000, "Invalid JSON body")
    request_id = body.get("request_id")
    receiver = body.get("receiver") if isinstance(body.get("receiver"), dict) else {}
    amount = amount_of(body.get("amount"))
    if not isinstance(request_id, str) or not request_id or len(request_id) > 40:
        return error(400, 3000, "request_id is required (max 40 characters)")
    if amount is None or not body.get("currency") or not receiver.get("counterparty_id"):
        return error(400, 3000, "account_id, receiver.counterparty_id, amount and currency are required")
    if receiver.get("account_id") and receiver.get("card_id"):
        return error(400, 3000, "receiver.account_id and receiver.card_id cannot be used together")
    recent = timezone.now() - timedelta(days=14)
    if SandboxTransaction.objects.filter(request_id=request_id, created_at__gte=recent).exists():
        return error(400, 3020, f"Duplicate request: {request_id}")
    source = SandboxAccount.objects.filter(pk=_uuid_or_none(body.get("account_id"))).first()
    target = SandboxCounterparty.objects.filter(pk=_uuid_or_none(receiver["counterparty_id"])).exclude(
        state="deleted").first()
    if source is None or target is None:
        return error(404, 3006, "Account or counterparty not found")
    if body["currency"] != source.currency:
        return error(400, 3000, "The currency must be the currency of the source account")
    if receiver.get("account_id"):
        receiver_account = next((a for a in target.accounts if a.get("id") == receiver["account_id"]), None)
        if receiver_account is None:
            return error(404, 3006, "Counterparty account not found")
    elif len(target.accounts) == 1:
        receiver_account = target.accounts[0]
    else:
        return error(400, 3000, "receiver.account_id is required: the counterparty has several accounts")
    tx = bank.create_payment(account=source, counterparty=target, receiver_account=receiver_account, amount=amount,
                             currency=body["currency"], reference=str(body.get("reference") or "")[:140],
                             request_id=request_id)
    answer = {"id": str(tx.id), "state": tx.state, "created_at": bank.iso(tx.created_at)}
    if tx.completed_at:
        answer["completed_at"] = bank.iso(tx.completed_at)
    return JsonResponse(answer)


def _uuid_or_none(value):
    try:
        return bank.uuid.UUID(str(value))
    except ValueError:
        return None


@api("GET")
def transactions(request):
    try:
        start = parse_moment(request.GET.get("from"))
        end = parse_moment(request.GET.get("to"))
        count = int(request.GET.get("count", 100))
    except ValueError:
        return error(400, 3000, "Invalid date or count")
    if not 1 <= count <= 1000:
        return error(400, 3000, "count must be between 1 and 1000")
    items = SandboxTransaction.objects.select_related("counterparty")
    if request.GET.get("request_id"):
        if start is None:
            return error(400, 3000, "'from' is required when 'request_id' is given")
        if (end or timezone.now()) - start > timedelta(days=14):
            return error(400, 3000, "The search interval must not exceed 14 days when 'request_id' is given")
        items = items.filter(request_id=request.GET["request_id"])
    if start:
        items = items.filter(created_at__gte=start)
    if end:
        items = items.filter(created_at__lt=end)
    if request.GET.get("account"):
        items = items.filter(account_id=_uuid_or_none(request.GET["account"]))
    if request.GET.get("type"):
        items = items.filter(type=request.GET["type"])
    if request.GET.getlist("state"):
        items = items.filter(state__in=request.GET.getlist("state"))
    return JsonResponse([bank.transaction_payload(tx) for tx in items.order_by("-created_at")[:count]], safe=False)


@api("GET")
def transaction_detail(request, transaction_id):
    tx = SandboxTransaction.objects.select_related("counterparty").filter(pk=_uuid_or_none(transaction_id)).first()
    return JsonResponse(bank.transaction_payload(tx)) if tx else error(404, 3006, "Transaction not found")


@api("POST")
def simulate_transaction(request, transaction_id, action):
    tx = SandboxTransaction.objects.filter(pk=_uuid_or_none(transaction_id)).first()
    if tx is None:
        return error(404, 3006, "Transaction not found")
    if action not in bank.ACTION_STATES:
        return error(400, 3000, "action must be complete, revert, decline or fail")
    try:
        tx = bank.move(tx, bank.ACTION_STATES[action])
    except bank.TransitionRefused as exc:
        return error(400, 3000, str(exc))
    return JsonResponse({"id": str(tx.id), "state": tx.state, "created_at": bank.iso(tx.created_at),
                         "completed_at": bank.iso(tx.completed_at)})


@api("POST")
def sandbox_topup(request):
    body = json_body(request) or {}
    amount = amount_of(body.get("amount"))
    target = SandboxAccount.objects.filter(pk=_uuid_or_none(body.get("account_id"))).first()
    if target is None or amount is None or amount > 10000 or body.get("currency") != target.currency:
        return error(400, 3000, "account_id, amount (max 10000) and the account's currency are required")
    state = body.get("state") or "completed"
    if state not in ("pending", "completed", "reverted", "failed"):
        return error(400, 3000, "Invalid state")
    tx = bank.topup(account=target, amount=amount, currency=target.currency, reference=body.get("reference") or "",
                    state=state)
    return JsonResponse({"id": str(tx.id), "state": tx.state, "created_at": bank.iso(tx.created_at),
                         "completed_at": bank.iso(tx.completed_at)})


# Webhooks v2 ----------------------------------------------------------------------------------------------------------
def webhook_payload(hook: SandboxWebhook, *, with_secret: bool = False) -> dict:
    payload = {"id": str(hook.id), "url": hook.url, "events": hook.events}
    if with_secret:
        payload["signing_secret"] = hook.signing_secrets[0]["secret"]
    return payload


def valid_webhook_url(url) -> bool:
    parts = urlsplit(url or "")
    # Revolut accepts https only; the emulator also accepts http on the loopback (a laptop demo) and on
    # Django's test host.
    return parts.scheme == "https" or (
        parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost", "testserver")
    )


@api("GET", "POST")
def webhooks(request):
    if request.method == "GET":
        return JsonResponse([webhook_payload(h) for h in SandboxWebhook.objects.order_by("created_at")], safe=False)
    body = json_body(request)
    if body is None or not valid_webhook_url(body.get("url")):
        return error(400, 3000, "A valid https url is required")
    events = body.get("events") or ["TransactionCreated", "TransactionStateChanged"]
    if not isinstance(events, list) or any(event not in WEBHOOK_EVENTS for event in events):
        return error(400, 3000, "Unknown event type")
    if SandboxWebhook.objects.count() >= MAX_WEBHOOKS:
        return error(422, 3352, "The maximum number of webhooks has been reached")
    hook = SandboxWebhook.objects.create(url=body["url"], events=events,
                                         signing_secrets=[{"secret": bank.new_token("wsk_"), "expires_at": None}])
    return JsonResponse(webhook_payload(hook, with_secret=True), status=201)


@api("GET", "PATCH", "DELETE")
def webhook(request, webhook_id):
    hook = SandboxWebhook.objects.filter(pk=_uuid_or_none(webhook_id)).first()
    if hook is None:
        return error(404, 3040, "Webhook not found")
    if request.method == "DELETE":
        hook.delete()
        return HttpResponse(status=204)
    if request.method == "PATCH":
        body = json_body(request) or {}
        if "url" not in body and "events" not in body:
            return error(400, 3000, "url or events is required")
        if "url" in body and not valid_webhook_url(body["url"]):
            return error(400, 3000, "A valid https url is required")
        if "events" in body and any(event not in WEBHOOK_EVENTS for event in body["events"] or []):
            return error(400, 3000, "Unknown event type")
        hook.url = body.get("url", hook.url)
        hook.events = body.get("events", hook.events)
        hook.save(update_fields=["url", "events"])
        return JsonResponse(webhook_payload(hook))
    return JsonResponse(webhook_payload(hook, with_secret=True))


@api("POST")
def rotate_signing_secret(request, webhook_id):
    from apps.revolut.webhook_registration import parse_duration

    hook = SandboxWebhook.objects.filter(pk=_uuid_or_none(webhook_id)).first()
    if hook is None:
        return error(404, 3040, "Webhook not found")
    body = json_body(request) or {}
    try:
        grace = parse_duration(body.get("expiration_period") or "P0D")
    except ValueError:
        return error(400, 3000, "Invalid expiration_period")
    if grace > timedelta(days=7):
        return error(400, 3000, "expiration_period must not exceed P7D")
    now = timezone.now()
    kept = []
    for entry in hook.signing_secrets:
        if entry.get("expires_at") and parse_datetime(entry["expires_at"]) <= now:
            continue
        if grace:
            expires = entry.get("expires_at") or bank.iso(now + grace)
            kept.append({"secret": entry["secret"], "expires_at": expires})
    if len(kept) + 1 > MAX_SIGNING_SECRETS:
        return error(422, 3355, "Too many active signing secrets")
    hook.signing_secrets = [{"secret": bank.new_token("wsk_"), "expires_at": None}] + kept
    hook.save(update_fields=["signing_secrets"])
    return JsonResponse(webhook_payload(hook, with_secret=True))


@api("GET")
def failed_events(request, webhook_id):
    """Deliveries given up on after their retries, newest first, for 21 days (business.yaml getFailedWebhookEvents)."""
    hook = SandboxWebhook.objects.filter(pk=_uuid_or_none(webhook_id)).first()
    if hook is None:
        return error(404, 3040, "Webhook not found")
    try:
        limit = int(request.GET.get("limit", 100))
    except ValueError:
        limit = 0
    if not 1 <= limit <= 1000:
        return error(400, 2101, "limit must be between 1 and 1000")
    try:
        created_before = parse_moment(request.GET.get("created_before"))
    except ValueError:
        return error(400, 2101, "Parameter created_before must be a valid timestamp")
    oldest = timezone.now() - bank.FAILED_EVENTS_KEPT
    if created_before and created_before < oldest:
        return error(400, 2101, f"created_before must be after {bank.iso(oldest)}, but is: {bank.iso(created_before)}")
    items = hook.deliveries.filter(state=SandboxWebhookDelivery.State.FAILED, created_at__gte=oldest)
    if created_before:
        items = items.filter(created_at__lt=created_before)
    return JsonResponse([bank.failed_event_payload(d) for d in items.order_by("-created_at")[:limit]], safe=False)


# Pages for people ----------------------------------------------------------------------------------------------------
@sandbox_view
def index(request):
    return render(request, "revolut/sandbox/index.html", {
        "accounts": SandboxAccount.objects.all(),
        "pending": SandboxTransaction.objects.filter(state__in=["created", "pending"]).select_related("counterparty"),
        "recent": SandboxTransaction.objects.exclude(state__in=["created", "pending"]).select_related(
            "counterparty")[:15],
        "apps": SandboxApp.objects.all(),
        "webhooks": SandboxWebhook.objects.all(),
    })


@sandbox_view
def move_from_page(request, transaction_id, action):
    if request.method == "POST" and action in bank.ACTION_STATES:
        tx = SandboxTransaction.objects.filter(pk=_uuid_or_none(transaction_id)).first()
        if tx is not None:
            try:
                bank.move(tx, bank.ACTION_STATES[action])
            except bank.TransitionRefused:
                pass
    return HttpResponseRedirect(reverse("revolut_sandbox:index"))


@sandbox_view
def api_settings(request):
    """The emulated "Business API" settings: upload a certificate and a redirect URI, get a ClientID."""
    context = {}
    if request.method == "POST":
        try:
            x509.load_pem_x509_certificate(request.POST.get("certificate_pem", "").encode())
        except ValueError:
            context["problem"] = "Certificat X.509 PEM attendu (une clé publique seule est refusée)."
        else:
            if not request.POST.get("redirect_uri", "").startswith(("http://", "https://")):
                context["problem"] = "URI de redirection invalide."
            else:
                certificate_pem = request.POST["certificate_pem"].replace("\r\n", "\n").strip() + "\n"
                context["app"] = bank.register_app(certificate_pem, request.POST["redirect_uri"])
    return render(request, "revolut/sandbox/api_settings.html", context)


@sandbox_view
def revoke_consents(request):
    if request.method == "POST":
        SandboxGrant.objects.update(revoked=True)
    return HttpResponseRedirect(reverse("revolut_sandbox:index"))


urlpatterns = [
    path("", index, name="index"),
    path("app-confirm", app_confirm, name="app_confirm"),
    path("settings/api", api_settings, name="api_settings"),
    path("ui/revoke-consents", revoke_consents, name="revoke_consents"),
    path("ui/transactions/<str:transaction_id>/<str:action>", move_from_page, name="move"),
    path("api/1.0/auth/token", auth_token, name="auth_token"),
    path("api/1.0/accounts", accounts, name="accounts"),
    path("api/1.0/accounts/<str:account_id>", account, name="account"),
    path("api/1.0/counterparties", counterparties, name="counterparties"),
    path("api/1.0/counterparty", create_counterparty, name="create_counterparty"),
    path("api/1.0/counterparty/<str:counterparty_id>", counterparty, name="counterparty"),
    path("api/1.0/pay", pay, name="pay"),
    path("api/1.0/transactions", transactions, name="transactions"),
    path("api/1.0/transaction/<str:transaction_id>", transaction_detail, name="transaction"),
    path("api/1.0/sandbox/transactions/<str:transaction_id>/<str:action>", simulate_transaction, name="simulate"),
    path("api/1.0/sandbox/topup", sandbox_topup, name="topup"),
    path("api/2.0/webhooks", webhooks, name="webhooks"),
    path("api/2.0/webhooks/<str:webhook_id>", webhook, name="webhook"),
    path("api/2.0/webhooks/<str:webhook_id>/rotate-signing-secret", rotate_signing_secret, name="rotate"),
    path("api/2.0/webhooks/<str:webhook_id>/failed-events", failed_events, name="failed_events"),
]
