"""Revolut pages in the console shell: the hub, « Soldes en direct », the connect flow and its callback."""

from __future__ import annotations

import hmac
import logging
import secrets
from functools import wraps

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.text import slugify
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from apps.core import jobs
from apps.core.http import ApiError
from apps.core.models import Connection, SyncRun, WebhookEvent
from apps.core.record_panels import RecordPanel
from apps.core.sync import start_sync
from apps.hub.models import SupplierBill
from apps.revolut import balances, oauth, webhook_registration
from apps.revolut import jobs as revolut_jobs
from apps.revolut.models import RevolutPayment

logger = logging.getLogger(__name__)

SESSION_KEY = "revolut_consent"
ENVIRONMENTS = {
    "production": "https://b2b.revolut.com",
    "sandbox": "https://sandbox-b2b.revolut.com",
}


def staff_permission_required(permission: str):
    def decorator(view):
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            user = request.user
            if not (user.is_active and user.is_staff and user.has_perm(permission)):
                raise PermissionDenied(_("Vous n'avez pas la permission requise."))
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


def revolut_connections():
    return Connection.objects.filter(provider="revolut").order_by("pk")


def shell_context(request, title: str, **extra) -> dict:
    """What admin/base_site.html needs, plus the reconnect banner shown on every Revolut page."""
    needs_reconnect = [c for c in revolut_connections().filter(is_active=True)
                       if c.token_status == Connection.TokenStatus.RECONNECT_REQUIRED]
    return {**admin.site.each_context(request), "title": title, "reconnect_required": needs_reconnect,
            "can_manage": request.user.has_perm("core.manage_connections"), **extra}


# Hub ---------------------------------------------------------------------------------------------------------------
@require_GET
@staff_permission_required("core.view_console")
def hub(request):
    connections = list(revolut_connections())
    bills_to_pay = (
        SupplierBill.objects.filter(status__in=[SupplierBill.Status.TO_PAY, SupplierBill.Status.PAYMENT_FAILED,
                                                SupplierBill.Status.AWAITING_APPROVAL])
        .select_related("supplier").order_by("due_date", "pk")[:20]
    )
    in_progress = RevolutPayment.objects.filter(
        state__in=[RevolutPayment.State.PREPARED, RevolutPayment.State.UNKNOWN, RevolutPayment.State.CREATED,
                   RevolutPayment.State.PENDING]
    ).select_related("bill__supplier", "counterparty")[:20]
    return render(request, "revolut/hub.html", shell_context(
        request, _("Revolut Business"),
        connections=connections,
        bills_to_pay=bills_to_pay,
        payments_in_progress=in_progress,
        webhook_events=WebhookEvent.objects.filter(provider="revolut").order_by("-received_at")[:10],
        sync_runs=SyncRun.objects.filter(connection__provider="revolut").select_related("connection")[:10],
        cards=balances.cards_for(balances.visible_accounts()),
        can_view_balances=request.user.has_perm("core.view_balances"),
    ))


# Balances ------------------------------------------------------------------------------------------------------------
@require_GET
@staff_permission_required("core.view_balances")
def balance_page(request):
    return render(request, "revolut/balances/page.html", shell_context(
        request, _("Soldes en direct"),
        cards=balances.cards_for(balances.visible_accounts()),
        live_group=balances.LIVE_GROUP,
        stale_minutes=int(balances.STALE_AFTER.total_seconds() // 60),
    ))


@require_GET
@staff_permission_required("core.view_balances")
def balance_cards(request):
    """The same cards as out-of-band fragments: the page polls it so "Données anciennes" shows even when
    nothing is pushed (scheduler stopped, Revolut unreachable)."""
    cards = balances.cards_for(balances.visible_accounts())
    return render(request, "revolut/balances/_cards.html", {"cards": cards, "oob": True})


# Connect flow --------------------------------------------------------------------------------------------------------
@require_http_methods(["GET", "POST"])
@staff_permission_required("core.manage_connections")
def connect_index(request):
    if request.method == "POST":
        name = (request.POST.get("name") or "").strip() or "Revolut Business"
        base_url = ENVIRONMENTS.get(request.POST.get("environment"), ENVIRONMENTS["sandbox"])
        slug = slugify(name)[:70] or "revolut"
        if Connection.objects.filter(slug=slug).exists():
            slug = f"{slug}-{secrets.token_hex(3)}"
        connection = Connection.objects.create(provider="revolut", name=name, slug=slug, base_url=base_url,
                                               token_status=Connection.TokenStatus.MISSING)
        return redirect("revolut:connect", connection.pk)
    connections = list(revolut_connections())
    if len(connections) == 1:
        return redirect("revolut:connect", connections[0].pk)
    return render(request, "revolut/connect/index.html", shell_context(
        request, _("Connecter Revolut"), connections=connections, environments=ENVIRONMENTS))


@require_http_methods(["GET", "POST"])
@staff_permission_required("core.manage_connections")
def connect(request, pk):
    connection = get_object_or_404(Connection, pk=pk, provider="revolut")
    if request.method == "POST":
        return _connect_step(request, connection)
    certificate = connection.config.get("certificate_pem")
    return render(request, "revolut/connect/detail.html", shell_context(
        request, _("Connecter Revolut"),
        connection=connection,
        has_key=bool(connection.secret("private_key_pem")),
        fingerprint=oauth.certificate_fingerprint(certificate) if certificate else "",
        redirect_uri=oauth.redirect_uri(),
        client_id=connection.config.get("client_id", ""),
        webhook=webhook_registration.registration(connection),
        webhook_secret_count=len([s for s in connection.webhook_secrets if s]),
        consented_at=parse_datetime(connection.config.get("consented_at") or ""),
    ))


def _connect_step(request, connection):
    step = request.POST.get("step")
    back = redirect("revolut:connect", connection.pk)
    try:
        if step == "generate_key":
            oauth.install_key(connection, oauth.generate_private_key_pem())
            messages.success(request, _("Clé RSA 2048 générée ; téléchargez le certificat pour Revolut."))
        elif step == "upload_key":
            upload = request.FILES.get("private_key")
            pem = upload.read().decode("utf-8", "replace") if upload else request.POST.get("private_key_pem", "")
            oauth.install_key(connection, pem.strip() + "\n")
            messages.success(request, _("Clé privée enregistrée (chiffrée) ; le certificat a été régénéré."))
        elif step == "client_id":
            client_id = (request.POST.get("client_id") or "").strip()
            if not client_id or len(client_id) > 200:
                raise ValidationError(_("ClientID attendu (affiché par Revolut après le téléversement du certificat)."))
            connection.config = {**connection.config, "client_id": client_id}
            connection.save(update_fields=["config", "updated_at"])
            messages.success(request, _("ClientID enregistré."))
        elif step == "register_webhook":
            webhook_registration.register(connection)
            messages.success(request, _("Webhook enregistré chez Revolut ; secret de signature conservé (chiffré)."))
        elif step == "rotate_secret":
            webhook_registration.rotate(connection)
            messages.success(request, _("Secret de signature renouvelé ; l'ancien reste accepté 24 h."))
        elif step == "refresh_balances":
            count = balances.refresh(connection)
            messages.success(request, _("%(count)s compte(s) relu(s).") % {"count": count})
        elif step == "sync":
            for resource in ("accounts", "counterparties", "transactions"):
                start_sync(connection, resource, user=request.user)
            messages.success(request, _("Synchronisation lancée."))
        else:
            messages.error(request, _("Étape inconnue."))
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    except (ApiError, ValueError) as exc:
        messages.error(request, _("Revolut : %(error)s") % {"error": exc})
    return back


@require_GET
@staff_permission_required("core.manage_connections")
def start_consent(request, pk):
    """Send the admin to Revolut's consent page, remembering the state in the session for the callback.

    Reached by a link, not a form: a form whose answer redirects to another origin is blocked by the
    console's CSP (`form-action 'self'`), while a top-level navigation by link is not.
    """
    connection = get_object_or_404(Connection, pk=pk, provider="revolut")
    if not connection.secret("private_key_pem") or not connection.config.get("client_id"):
        messages.error(request, _("Générez la clé et saisissez le ClientID avant de connecter Revolut."))
        return redirect("revolut:connect", connection.pk)
    state = secrets.token_urlsafe(24)
    request.session[SESSION_KEY] = {"state": state, "connection": connection.pk,
                                    "started_at": timezone.now().isoformat()}
    return redirect(oauth.consent_url(connection, state))


@require_GET
def certificate(request, pk):
    if not (request.user.is_staff and request.user.has_perm("core.manage_connections")):
        raise PermissionDenied
    connection = get_object_or_404(Connection, pk=pk, provider="revolut")
    pem = connection.config.get("certificate_pem")
    if not pem:
        return redirect("revolut:connect", connection.pk)
    response = HttpResponse(pem, content_type="application/x-pem-file")
    response["Content-Disposition"] = f'attachment; filename="revolut-{connection.slug}.cer"'
    return response


@require_GET
@staff_permission_required("core.manage_connections")
def oauth_callback(request):
    pending = request.session.get(SESSION_KEY)
    if not pending:
        return _callback_error(request, _("Aucune connexion à Revolut n'a été commencée depuis cette session."))
    connection = Connection.objects.filter(pk=pending["connection"], provider="revolut").first()
    if connection is None:
        return _callback_error(request, _("Connexion introuvable."))
    if request.GET.get("error"):
        request.session.pop(SESSION_KEY, None)
        return _callback_error(request, _("Autorisation refusée dans Revolut (%(error)s).")
                               % {"error": request.GET["error"][:60]}, connection)
    returned_state = request.GET.get("state")
    started_at = parse_datetime(pending.get("started_at") or "")
    if returned_state is not None:
        if not hmac.compare_digest(returned_state, pending["state"]):
            return _callback_error(request, _("Paramètre state invalide : recommencez la connexion."), connection)
    elif started_at is None or timezone.now() - started_at > oauth.CODE_VALIDITY:
        # Whether Revolut echoes `state` is UNCONFIRMED (NOTES §2.3). Without it we only accept a callback
        # in the session that started the consent, within the 2 minutes a code is valid.
        return _callback_error(request, _("Retour de Revolut trop tardif : recommencez la connexion."), connection)
    code = request.GET.get("code", "")
    if not code:
        return _callback_error(request, _("Revolut n'a pas renvoyé de code d'autorisation."), connection)
    request.session.pop(SESSION_KEY, None)
    try:
        oauth.exchange_code(connection, code)
    except (ApiError, ValidationError) as exc:
        logger.warning("Échange du code Revolut en échec : %s", exc)
        return _callback_error(request, _("Revolut a refusé l'échange du code : %(error)s") % {"error": exc},
                               connection)
    messages.success(request, _("Revolut est connecté."))
    try:
        webhook_registration.register(connection)
    except ApiError as exc:
        messages.warning(request, _("Webhook non enregistré : %(error)s") % {"error": exc})
    for resource in ("accounts", "counterparties", "transactions"):
        start_sync(connection, resource, user=request.user)
    jobs.enqueue_on_commit(revolut_jobs.refresh_connection_balances, connection.pk, queue="default")
    return redirect("revolut:connect", connection.pk)


def _callback_error(request, message, connection=None):
    return render(request, "revolut/connect/callback_error.html",
                  shell_context(request, _("Connexion à Revolut"), message=message, connection=connection), status=400)


# Panel on the supplier bill page ---------------------------------------------------------------------------------------
def bill_panel_context(bill, user) -> dict | None:
    attempts = list(RevolutPayment.objects.filter(bill=bill).select_related("counterparty")
                    .order_by("-created_at")[:5])
    if not attempts:
        return None
    return {"payments": attempts}


BILL_PANEL = RecordPanel(title="Revolut", template="revolut/_bill_panel.html", context=bill_panel_context,
                         sources=((RevolutPayment, "bill"),))
