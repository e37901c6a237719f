"""The Mautic hub page (connection, reminders due, conflicts, webhooks, syncs), its buttons, and the
OAuth2 authorisation (NOTES §2.2: `GET /oauth/v2/authorize` then the code exchanged at `/oauth/v2/token`)."""

from __future__ import annotations

import hmac
import logging
import secrets
from urllib.parse import urlencode

from django.contrib import admin, messages
from django.http import HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from apps.core import oauth2, sync
from apps.core.console.access import refuse, staff_required
from apps.core.console.connection_views import connection_action, test_connection_view
from apps.core.http import ApiError
from apps.core.models import Connection, SyncRun, WebhookEvent
from apps.hub.models import Contact, Invoice
from apps.mautic import dunning, jobs
from apps.mautic.client import TokenEndpoint, redirect_uri
from apps.mautic.models import ContactLink, EmailActivity
from apps.mautic.webhook_registration import register_webhook

logger = logging.getLogger(__name__)
PROVIDER = "mautic"
SESSION_KEY = "mautic_oauth"


def _connections():
    return Connection.objects.filter(provider=PROVIDER).order_by("-is_active", "name")


@require_GET
@staff_required("core.view_console")
def hub(request):
    connections = list(_connections())
    active = next((c for c in connections if c.is_active), None)
    overdue = [i for i in Invoice.objects.filter(status__in=(Invoice.Status.SENT, Invoice.Status.PARTIAL))
               .select_related("company").order_by("due_date")[:100] if i.is_overdue]
    context = {
        **admin.site.each_context(request),
        "title": _("Mautic"),
        "connections": connections,
        "reminders_due": [(i, dunning.level_label(level) if (level := dunning.next_level(i)) else "—",
                           dunning.refusal(i, active)) for i in overdue[:30]],
        "conflicts": ContactLink.objects.filter(conflict_at__isnull=False).select_related("contact")[:20],
        "errors": ContactLink.objects.exclude(last_error="").select_related("contact")[:20],
        "activity": EmailActivity.objects.select_related("link", "invoice")[:20],
        "webhooks": WebhookEvent.objects.filter(provider=PROVIDER)[:15],
        "syncs": SyncRun.objects.filter(connection__provider=PROVIDER)[:10],
        "can_manage": request.user.has_perm("core.manage_connections"),
    }
    return render(request, "mautic/hub.html", context)


test = test_connection_view(PROVIDER, "mautic:hub")


@connection_action(PROVIDER, "mautic:hub")
def sync_now(request, connection):
    _run, created = sync.start_sync(connection, "contacts", user=request.user)
    messages.success(request, _("Synchronisation des contacts lancée.") if created
                     else _("Une synchronisation des contacts est déjà en cours."))


@require_POST
@staff_required("core.manage_connections")
def reconcile(request):
    count = jobs.reconcile_activity()
    messages.success(request, _("Rattrapage terminé : %(count)s activité(s) ajoutée(s).") % {"count": count})
    return HttpResponseRedirect(reverse("mautic:hub"))


@connection_action(PROVIDER, "mautic:hub")
def register(request, connection):
    try:
        messages.success(request, register_webhook(connection))
    except ApiError as exc:
        messages.error(request, _("Enregistrement du webhook impossible : %(error)s") % {"error": exc})


# OAuth2 -------------------------------------------------------------------------------------------------
@require_GET
@staff_required("core.manage_connections")
def authorize(request, pk):
    """A link, not a form: a form's cross-origin redirect is blocked by CSP form-action 'self'."""
    connection = _connections().filter(pk=pk).first()
    if connection is None or not connection.secret("client_id"):
        return refuse(request, _("Connexion Mautic introuvable ou sans client_id OAuth2."), status=404)
    state = secrets.token_urlsafe(24)
    request.session[SESSION_KEY] = {"connection": connection.pk, "state": state}
    query = urlencode({"client_id": connection.secret("client_id"), "grant_type": "authorization_code",
                       "redirect_uri": redirect_uri(), "response_type": "code", "state": state})
    return HttpResponseRedirect(f"{connection.base_url.rstrip('/')}/oauth/v2/authorize?{query}")


@require_GET
@staff_required("core.manage_connections")
def oauth_callback(request):
    pending = request.session.get(SESSION_KEY) or {}
    connection = _connections().filter(pk=pending.get("connection")).first()
    if connection is None:
        return refuse(request, _("Aucune autorisation Mautic n'a été commencée depuis cette session."), status=400)
    if request.GET.get("error"):
        request.session.pop(SESSION_KEY, None)
        return refuse(request, _("Autorisation refusée dans Mautic (%(error)s).")
                      % {"error": request.GET["error"][:60]}, status=400)
    if not hmac.compare_digest(request.GET.get("state", ""), pending.get("state", "")):
        return refuse(request, _("Paramètre state invalide : recommencez la connexion."), status=400)
    request.session.pop(SESSION_KEY, None)
    try:
        payload = TokenEndpoint(connection).request_token({
            "grant_type": "authorization_code", "redirect_uri": redirect_uri(), "code": request.GET.get("code", "")})
        oauth2.store_tokens(connection, payload)
    except ApiError as exc:
        logger.warning("Échange du code Mautic en échec : %s", exc)
        return refuse(request, _("Mautic a refusé l'échange du code : %(error)s") % {"error": exc}, status=400)
    messages.success(request, _("Mautic est connecté (OAuth2)."))
    return HttpResponseRedirect(reverse("mautic:hub"))


@require_GET
@staff_required("hub.view_contact")
def contact_timeline(request, pk):
    """One hub contact's email history (sends, opens, clicks, bounces, unsubscribes), live like record pages."""
    contact = Contact.objects.select_related("company").filter(pk=pk).first()
    if contact is None:
        return refuse(request, _("Contact introuvable."), status=404)
    context = {
        **admin.site.each_context(request),
        "title": _("E-mails de %(name)s") % {"name": contact},
        "contact": contact,
        "links": ContactLink.objects.filter(contact=contact).prefetch_related("segments"),
    }
    return render(request, "mautic/contact.html", context)
