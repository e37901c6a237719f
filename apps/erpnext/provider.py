"""The ERPNext v15 plug-in the kernel talks to (webhook inbox, sync engine, CLI, console home).

`connection test` reads one row of every synced doctype: each 403 is named (which doctype, which roles
could read it, from the catalogue). It then asks `frappe.client.has_permission(..., "write")` about the row
it read: the console never writes, and says so when the API user could (it should hold read-only roles).
"""

from __future__ import annotations

from django.urls import reverse
from django.utils.translation import gettext as _

from apps.core.http import ApiError, AuthenticationError
from apps.core.providers import EventDescription, Provider
from apps.erpnext import catalogue, webhooks
from apps.erpnext.client import ERPNextClient
from apps.erpnext.handlers import EVENT_LABELS, HANDLERS
from apps.erpnext.sync import ORDER_BY, RESOURCES

class ReadPermissionMissing(ApiError):
    pass


class ERPNextProvider(Provider):
    key = "erpnext"
    label = "ERPNext"
    secret_names = ("api_key", "api_secret")
    sync_resources = RESOURCES
    webhook_handlers = HANDLERS
    event_labels = EVENT_LABELS
    webhooks_optional = True  # hints only: the sync is complete without them (NOTES §10.5)

    def verifier(self, connection):
        return webhooks.verifier()

    def describe_event(self, body: bytes, headers, url_event: str | None) -> EventDescription:
        return webhooks.describe_event(body)

    def client(self, connection) -> ERPNextClient:
        return ERPNextClient(connection)

    def test_connection(self, connection) -> str:
        client = self.client(connection)
        user = client.logged_user()
        refused, samples = [], {}
        for resource in RESOURCES:
            try:
                rows = client.list_documents(resource.doctype, fields=["name"], order_by=ORDER_BY,
                                             limit_page_length=1)
            except AuthenticationError as exc:
                if exc.status != 403:
                    raise
                refused.append(resource.doctype)
                continue
            if rows:
                samples[resource.doctype] = rows[0]["name"]
        if refused:
            details = "; ".join(
                _("%(doctype)s (rôles possibles : %(roles)s)")
                % {"doctype": doctype, "roles": ", ".join(catalogue.read_roles(doctype)) or "?"}
                for doctype in refused
            )
            raise ReadPermissionMissing(
                _("ERPNext refuse la lecture (403) à l'utilisateur %(user)s pour : %(details)s.")
                % {"user": user, "details": details}, status=403)
        writable = [doctype for doctype, name in samples.items() if client.has_permission(doctype, name, "write")]
        summary = _("Connecté en tant que %(user)s ; lecture autorisée sur %(count)s types de documents.") % {
            "user": user, "count": len(RESOURCES)}
        if writable:
            summary += " " + _(
                "Attention : cet utilisateur API peut aussi modifier %(doctypes)s. La console n'écrit jamais "
                "dans ERPNext, mais donnez-lui uniquement des rôles en lecture.") % {"doctypes": ", ".join(writable)}
        unchecked = [r.doctype for r in RESOURCES if r.doctype not in samples]
        if unchecked:
            summary += " " + _("Droits d'écriture non vérifiés (aucun document) : %(doctypes)s.") % {
                "doctypes": ", ".join(unchecked)}
        return summary

    def hub_url(self) -> str | None:
        return reverse("erpnext:hub")

    def seed_demo(self, stdout) -> None:
        from apps.erpnext.demo import seed_demo

        seed_demo(stdout)
