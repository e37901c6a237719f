"""Contextual buttons on hub quotes and invoices that act in Invoice Ninja.

Safety against double clicks and retries: the kernel gives one ActionRun per click; here, an object
is created remotely only when the hub record has no link *and* no remote object carries its marker
(`[console:quote:12]` in the private notes), and every external id is saved (link + save_progress)
before the e-mail step, so a retried action updates and resumes instead of creating a second quote.
"""

from __future__ import annotations

from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from apps.core import actions
from apps.core.actions import Action, ActionFailed, ActionOutcome
from apps.core.http import ApiError, AuthenticationError, NetworkError
from apps.core.numbers import format_money
from apps.hub.models import Invoice, Quote, money
from apps.invoiceninja import payloads, reconcile
from apps.invoiceninja.client import InvoiceNinjaClient, ValidationFailed, field_errors_text
from apps.invoiceninja.models import ClientLink, InvoiceLink, QuoteLink
from apps.invoiceninja.sync import ClientsResource, InvoicesResource, QuotesResource, record_remote


def failure(exc: ApiError) -> ActionFailed:
    if isinstance(exc, ValidationFailed):
        return ActionFailed(_("Invoice Ninja a refusé les données : %(fields)s") % {
            "fields": field_errors_text(exc.field_errors)})
    if isinstance(exc, AuthenticationError) and exc.status == 403 and "Invalid token" in str(exc):
        return ActionFailed(_("Invoice Ninja refuse le jeton API de la connexion : vérifiez-la dans l'administration."))
    if isinstance(exc, AuthenticationError):
        return ActionFailed(_("Invoice Ninja refuse l'opération : %(error)s") % {"error": exc})
    if isinstance(exc, NetworkError) and exc.maybe_sent:
        return ActionFailed(_("Invoice Ninja n'a pas répondu ; relancez l'action : elle reprendra sans rien créer "
                              "en double."))
    return ActionFailed(_("Invoice Ninja : %(error)s") % {"error": exc})


class InvoiceNinjaAction(Action):
    provider = "invoiceninja"
    permission = "core.send_documents"

    def api(self, connection) -> InvoiceNinjaClient:
        return InvoiceNinjaClient(connection)

    def run(self, obj, run):
        connection = self.connection()
        if connection is None:
            raise ActionFailed(_("Aucune connexion Invoice Ninja active."))
        try:
            return self.perform(obj, run, connection, self.api(connection))
        except ApiError as exc:
            raise failure(exc) from exc

    def perform(self, obj, run, connection, api) -> ActionOutcome:
        raise NotImplementedError

    def link_for(self, link_model, **lookup):
        connection = self.connection()
        return link_model.objects.filter(connection=connection, **lookup).first() if connection else None


# Pushing hub records ----------------------------------------------------------------------------
def find_marked(api: InvoiceNinjaClient, entity: str, mark: str, **filters) -> dict | None:
    """A remote object created earlier by the console (the action died before saving its id)."""
    page = 1
    while True:
        listing = api.list_page(entity, page=page, per_page=100, sort="id|desc", status=None, **filters)
        for item in listing.items:
            if mark in (item.get("private_notes") or "") and not item.get("is_deleted"):
                return item
        if listing.is_last or page >= 5:
            return None
        page += 1


def link_remote(link_model, connection, hub_field: str, hub_record, remote: dict):
    link, _created = link_model.objects.get_or_create(
        connection=connection, **{hub_field: hub_record}, defaults={"external_id": remote["id"]}
    )
    if link.external_id != remote["id"]:
        raise ActionFailed(_("Cet enregistrement est déjà lié à un autre objet Invoice Ninja (%(id)s).") % {
            "id": link.external_id})
    return link


def ensure_client(api, connection, company, run) -> str:
    link = ClientLink.objects.filter(connection=connection, company=company).first()
    if link is not None:
        if link.has_local_changes(company):
            current = api.get_client(link.external_id)
            remote = api.update_client(link.external_id,
                                       payloads.client_body(company, current.get("contacts") or []))
            record_remote(connection, ClientsResource, remote, apply=False)
            reconcile.in_step(link, remote, number=remote.get("number", ""))
        return link.external_id
    mark = payloads.marker("company", company.pk)
    remote = find_marked(api, "clients", mark, name=company.name)
    if remote is None:
        remote = api.create_client(payloads.client_body(company))
    record_remote(connection, ClientsResource, remote, apply=False)
    link = link_remote(ClientLink, connection, "company", company, remote)
    reconcile.in_step(link, remote, number=remote.get("number", ""))
    actions.save_progress(run, invoiceninja_client_id=remote["id"])
    return remote["id"]


def push_document(api, connection, document, run, *, kind: str):
    """Create or update the quote/invoice remotely; returns (link, remote payload). Ids saved before returning."""
    link_model, entity, build = {
        "quote": (QuoteLink, "quotes", payloads.quote_body),
        "invoice": (InvoiceLink, "invoices", payloads.invoice_body),
    }[kind]
    client_id = ensure_client(api, connection, document.company, run)
    body = build(document, client_id)
    if document.number:
        body["number"] = document.number
    link = link_model.objects.filter(connection=connection, **{kind: document}).first()
    if link is not None:
        if link.has_local_changes(document) or link.in_conflict:
            remote = getattr(api, f"update_{kind}")(link.external_id, body)
        else:
            remote = getattr(api, f"get_{kind}")(link.external_id)
    else:
        remote = find_marked(api, entity, payloads.marker(kind, document.pk), client_id=client_id)
        if remote is None:
            remote = getattr(api, f"create_{kind}")(body)
        link = link_remote(link_model, connection, kind, document, remote)
        reconcile.in_step(link, remote, number=remote.get("number", ""))
    actions.save_progress(run, **{f"invoiceninja_{kind}_id": remote["id"]})
    return link, remote


def send_document(api, connection, document, run, *, kind: str):
    link, remote = push_document(api, connection, document, run, kind=kind)
    if not run.external_ids.get("emailed"):
        remote = api.send_email(kind, remote["id"], f"email_template_{kind}")
        actions.save_progress(run, emailed=True)
    return now_sent(connection, document, link, remote, kind=kind, emailed_at=timezone.now())


def issue_document(api, connection, document, run, *, kind: str):
    """Recorded in Invoice Ninja and marked sent there, numbered, but no e-mail from Invoice Ninja: another system
    (DocuSeal's signing request) is what reaches the client. Mark-sent only moves a draft (NOTES §8)."""
    link, remote = push_document(api, connection, document, run, kind=kind)
    if str(remote.get("status_id")) == "1":
        returned = api.bulk(f"{kind}s", "mark_sent", [remote["id"]])
        remote = next((r for r in returned if r.get("id") == remote["id"]), None) or getattr(
            api, f"get_{kind}")(remote["id"])
    return now_sent(connection, document, link, remote, kind=kind)


def now_sent(connection, document, link, remote, *, kind: str, **link_fields):
    resource = QuotesResource if kind == "quote" else InvoicesResource
    record_remote(connection, resource, remote, apply=False)
    if remote.get("number") and not document.number:
        document.number = remote["number"]
    if document.status == document.Status.DRAFT:
        document.status = document.Status.SENT
    document.lines_reopened_at = None  # a new version, once sent, locks its lines again
    # Only what sending changes: a colleague's edit saved meanwhile (notes, title) is not overwritten.
    document.save(update_fields=["number", "status", "lines_reopened_at", "updated_at"])
    reconcile.in_step(link, remote, number=remote.get("number", ""), **link_fields)
    return remote


def recipients(document) -> str:
    emails = [c.email for c in document.company.contacts.all() if c.email] or [document.company.email]
    return ", ".join(filter(None, emails)) or _("(aucun contact avec e-mail)")


# The actions -----------------------------------------------------------------------------------
class SendQuote(InvoiceNinjaAction):
    key = "invoiceninja.send_quote"
    label = gettext_lazy("Envoyer le devis")
    model = Quote
    confirm = gettext_lazy("Le devis sera créé ou mis à jour dans Invoice Ninja puis envoyé par e-mail au client.")

    def applies_to(self, quote):
        return quote.status in (Quote.Status.DRAFT, Quote.Status.SENT) and quote.lines.exists()

    def confirmation_details(self, quote):
        return [(_("Client"), str(quote.company)), (_("Total TTC"), format_money(quote.total, quote.currency)),
                (_("Destinataires"), recipients(quote))]

    def perform(self, quote, run, connection, api):
        remote = send_document(api, connection, quote, run, kind="quote")
        return ActionOutcome(
            _("Devis %(number)s envoyé par Invoice Ninja.") % {"number": remote.get("number") or quote.number},
            {"invoiceninja_quote_id": remote["id"]},
        )


class ApproveQuote(InvoiceNinjaAction):
    """The quote signed elsewhere (DocuSeal) is approved in Invoice Ninja too, so both systems say the same."""

    key = "invoiceninja.approve_quote"
    label = gettext_lazy("Approuver le devis dans Invoice Ninja")
    model = Quote

    def applies_to(self, quote):
        return quote.status == Quote.Status.ACCEPTED and self.link_for(QuoteLink, quote=quote) is not None

    def perform(self, quote, run, connection, api):
        link = QuoteLink.objects.filter(connection=connection, quote=quote).first()
        if link is None:
            raise ActionFailed(_("Ce devis n'existe pas dans Invoice Ninja : envoyez-le d'abord."))
        remote = api.get_quote(link.external_id)
        # 3 = approved; a quote already converted (invoice_id) is past approval.
        if str(remote.get("status_id")) != "3" and not remote.get("invoice_id"):
            api.bulk("quotes", "approve", [link.external_id])
            remote = api.get_quote(link.external_id)  # bulk skips silently what it cannot do (NOTES §8)
        if str(remote.get("status_id")) != "3" and not remote.get("invoice_id"):
            raise ActionFailed(_("Invoice Ninja n'a pas approuvé le devis (statut %(status)s).") % {
                "status": remote.get("status_id")})
        record_remote(connection, QuotesResource, remote, apply=False)
        reconcile.in_step(link, remote)
        return ActionOutcome(_("Devis %(number)s approuvé dans Invoice Ninja.") % {
            "number": remote.get("number") or quote.number}, {"invoiceninja_quote_id": link.external_id})


class ConvertQuote(InvoiceNinjaAction):
    key = "invoiceninja.convert_quote"
    label = gettext_lazy("Convertir en facture")
    model = Quote
    # Writes to the vendor (a new invoice there): confirmed like every other action that does.
    confirm = gettext_lazy("Invoice Ninja créera une facture à partir de ce devis accepté ; elle sera liée au devis "
                           "ici. La facture n'est pas envoyée au client par cette action.")

    def confirmation_details(self, quote):
        return [(_("Client"), str(quote.company)), (_("Total TTC"), format_money(quote.total, quote.currency))]

    def applies_to(self, quote):
        return quote.status == Quote.Status.ACCEPTED and self.link_for(QuoteLink, quote=quote) is not None

    def perform(self, quote, run, connection, api):
        link = QuoteLink.objects.filter(connection=connection, quote=quote).first()
        if link is None:
            raise ActionFailed(_("Ce devis n'existe pas dans Invoice Ninja : envoyez-le d'abord."))
        remote_quote = api.get_quote(link.external_id)
        if not remote_quote.get("invoice_id"):
            converted = api.bulk("quotes", "convert_to_invoice", [link.external_id])
            remote_quote = next((q for q in converted if q.get("id") == link.external_id), remote_quote)
            if not remote_quote.get("invoice_id"):
                # Bulk actions skip what they cannot do without an error (NOTES §8): re-read the state.
                remote_quote = api.get_quote(link.external_id)
        invoice_id = remote_quote.get("invoice_id")
        if not invoice_id:
            raise ActionFailed(_("Invoice Ninja n'a pas converti le devis (statut %(status)s).") % {
                "status": remote_quote.get("status_id")})
        actions.save_progress(run, invoiceninja_invoice_id=invoice_id)
        record_remote(connection, QuotesResource, remote_quote, apply=False)
        remote_invoice = InvoicesResource.clean(api.get_invoice(invoice_id))
        record_remote(connection, InvoicesResource, remote_invoice, apply=False)
        invoice = reconcile.invoice_from_converted_quote(connection, quote, remote_invoice)
        link.refresh_from_db()
        reconcile.in_step(link, remote_quote)
        return ActionOutcome(_("Facture %(number)s créée depuis le devis.") % {"number": invoice.number or "—"},
                             {"invoiceninja_invoice_id": invoice_id, "invoice_pk": invoice.pk})


class SendInvoice(InvoiceNinjaAction):
    key = "invoiceninja.send_invoice"
    label = gettext_lazy("Envoyer la facture")
    model = Invoice
    confirm = gettext_lazy("La facture sera envoyée par e-mail au client depuis Invoice Ninja.")

    def applies_to(self, invoice):
        return invoice.status in (Invoice.Status.DRAFT, Invoice.Status.SENT, Invoice.Status.PARTIAL) \
            and invoice.lines.exists()

    def confirmation_details(self, invoice):
        return [(_("Client"), str(invoice.company)), (_("Total TTC"), format_money(invoice.total, invoice.currency)),
                (_("Destinataires"), recipients(invoice))]

    def perform(self, invoice, run, connection, api):
        remote = send_document(api, connection, invoice, run, kind="invoice")
        return ActionOutcome(
            _("Facture %(number)s envoyée par Invoice Ninja.") % {"number": remote.get("number") or invoice.number},
            {"invoiceninja_invoice_id": remote["id"]},
        )


class MarkInvoicePaid(InvoiceNinjaAction):
    key = "invoiceninja.mark_paid"
    label = gettext_lazy("Marquer payée")
    model = Invoice
    confirm = gettext_lazy("Invoice Ninja enregistrera un paiement du solde restant dû et la facture sera payée.")

    def applies_to(self, invoice):
        return invoice.status in (Invoice.Status.DRAFT, Invoice.Status.SENT, Invoice.Status.PARTIAL) \
            and self.link_for(InvoiceLink, invoice=invoice) is not None

    def confirmation_details(self, invoice):
        return [(_("Client"), str(invoice.company)), (_("Solde dû"), format_money(invoice.balance_due, invoice.currency))]

    def perform(self, invoice, run, connection, api):
        link = InvoiceLink.objects.filter(connection=connection, invoice=invoice).first()
        if link is None:
            raise ActionFailed(_("Cette facture n'existe pas dans Invoice Ninja."))
        returned = api.bulk("invoices", "mark_paid", [link.external_id])
        remote = next((i for i in returned if i.get("id") == link.external_id), None) or api.get_invoice(link.external_id)
        if str(remote.get("status_id")) != "4":
            raise ActionFailed(_("Invoice Ninja n'a pas marqué la facture payée (statut %(status)s).") % {
                "status": remote.get("status_id")})
        record_remote(connection, InvoicesResource, remote, apply=False)
        invoice.status = Invoice.Status.PAID
        invoice.amount_paid = money(payloads.decimal(remote.get("paid_to_date")))
        invoice.save(update_fields=["status", "amount_paid", "updated_at"])
        reconcile.in_step(link, remote)
        return ActionOutcome(_("Facture %(number)s marquée payée dans Invoice Ninja.") % {
            "number": remote.get("number") or invoice.number}, {"invoiceninja_invoice_id": link.external_id})


class TakeRemoteVersion(InvoiceNinjaAction):
    """Resolve a conflict in favour of Invoice Ninja (the other way is to send the console's version)."""

    link_model = None
    resource = None
    confirm = gettext_lazy("Les modifications faites dans la console depuis la dernière synchronisation seront "
                           "remplacées par la version d'Invoice Ninja.")

    def applies_to(self, obj):
        link = self.link_for(self.link_model, **{self.model._meta.model_name: obj})
        return link is not None and link.in_conflict

    def perform(self, obj, run, connection, api):
        link = self.link_model.objects.get(connection=connection, **{self.model._meta.model_name: obj})
        kind = self.model._meta.model_name
        remote = self.resource.clean(getattr(api, f"get_{kind}")(link.external_id))
        record_remote(connection, self.resource, remote, apply=False)
        apply = reconcile.apply_quote if kind == "quote" else reconcile.apply_invoice
        apply(connection, remote, force=True)
        return ActionOutcome(_("Version Invoice Ninja reprise ; conflit résolu."), {f"invoiceninja_{kind}_id": remote["id"]})


class TakeRemoteQuote(TakeRemoteVersion):
    key = "invoiceninja.take_remote_quote"
    label = gettext_lazy("Reprendre la version Invoice Ninja")
    model = Quote
    link_model = QuoteLink
    resource = QuotesResource


class TakeRemoteInvoice(TakeRemoteVersion):
    key = "invoiceninja.take_remote_invoice"
    label = gettext_lazy("Reprendre la version Invoice Ninja")
    model = Invoice
    link_model = InvoiceLink
    resource = InvoicesResource


ACTIONS = (SendQuote, ApproveQuote, ConvertQuote, SendInvoice, MarkInvoicePaid, TakeRemoteQuote, TakeRemoteInvoice)
