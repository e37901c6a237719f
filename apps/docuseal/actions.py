"""Contextual buttons on hub quotes that act in DocuSeal: send for signature, re-send, cancel.

"Envoyer pour signature" (a sent quote, or a draft that the kernel's document registry can issue — Invoice
Ninja records it, numbered and marked sent, without its own e-mail — confirmation first): the quote's own PDF
(asked from the kernel's document registry, so from Invoice Ninja) on editions that accept a PDF; on the
open-source edition — learnt from DocuSeal's own "Pro Edition" 404, kept on the connection — the acceptance
template configured on the connection, with the quote's number, client, total and validity prefilled as field
values. Signers are the client's contacts with an e-mail, primary first, in that signing order.

A double click sends once: the kernel gives one ActionRun per click and refuses a second run while one is
in flight; the button is gone while a request is pending; and every submitter carries an external id
derived from the run, so a run retried after DocuSeal created the submission but before its id was saved
finds it (GET /submitters?external_id=...) instead of sending a second request.
"""

from __future__ import annotations

import base64
from datetime import timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import formats, timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, gettext_noop

from apps.core import actions, documents
from apps.core.actions import Action, ActionFailed, ActionOutcome
from apps.core.http import ApiError, AuthenticationError, CircuitOpen, ClientError, NetworkError, ServerError
from apps.core.models import TimelineEntry
from apps.docuseal import signatures
from apps.docuseal.client import DocusealClient, ProEditionRequired
from apps.docuseal.models import SignatureRequest, Signer
from apps.hub.models import Quote

EDITION_PRO = "pro"
EDITION_OPEN_SOURCE = "open_source"
EDITION_RECHECK = timedelta(days=1)
# Template field names the console fills, unless the connection's config["template_fields"] renames them.
DEFAULT_TEMPLATE_FIELDS = {
    "number": "Numéro du devis",
    "client": "Client",
    "total": "Montant TTC",
    "valid_until": "Valable jusqu'au",
}


def failure(exc: ApiError) -> ActionFailed:
    if isinstance(exc, AuthenticationError):
        return ActionFailed(_("DocuSeal refuse la clé API de la connexion (%(error)s) : vérifiez-la dans "
                              "l'administration.") % {"error": exc})
    if isinstance(exc, (NetworkError, ServerError, CircuitOpen)):
        if exc.maybe_sent:
            return ActionFailed(_("DocuSeal n'a pas répondu ; relancez l'action : elle retrouvera la demande "
                                  "déjà créée au lieu d'en envoyer une seconde."))
        return ActionFailed(_("DocuSeal est injoignable (%(error)s) ; rien n'a été envoyé, réessayez plus tard.")
                            % {"error": exc})
    if isinstance(exc, ClientError):
        return ActionFailed(_("DocuSeal a refusé la demande : %(error)s") % {"error": exc})
    return ActionFailed(_("DocuSeal : %(error)s") % {"error": exc})


def signers_of(quote) -> list:
    contacts = [c for c in quote.company.contacts.all() if c.email]
    if not contacts:
        raise ActionFailed(_("Aucun contact de %(client)s n'a d'adresse e-mail : ajoutez-en une avant d'envoyer "
                             "le devis pour signature.") % {"client": quote.company})
    return contacts


# Signature boxes on page 1, three side by side from its foot, the next rows above (areas are fractions of the
# page; the exact placement DocuSeal applies to a PDF without text tags is UNCONFIRMED beyond the spec's wording).
SIGNATURE_COLUMNS = 3
SIGNATURE_ROWS = 10
MAX_PDF_SIGNERS = SIGNATURE_COLUMNS * SIGNATURE_ROWS


def signature_area(position: int) -> dict:
    row, column = divmod(position, SIGNATURE_COLUMNS)
    return {"x": round(0.08 + 0.3 * column, 2), "y": round(0.85 - 0.08 * row, 2), "w": 0.25, "h": 0.06, "page": 1}


def money_text(amount: Decimal, currency: str) -> str:
    return f"{formats.number_format(amount, 2, use_l10n=True, force_grouping=True)} {currency}"


def quote_values(quote) -> dict[str, str]:
    return {
        "number": quote.number or f"#{quote.pk}",
        "client": quote.company.name,
        "total": money_text(quote.total, quote.currency),
        "valid_until": quote.valid_until.strftime("%d/%m/%Y") if quote.valid_until else "—",
    }


def marker(quote, run, position: int) -> str:
    return f"console-quote-{quote.pk}-run-{run.pk}-{position}"


def common_body(quote, run, contacts) -> dict:
    body = {
        "send_email": True,
        "order": "preserved",
        "message": {
            "subject": _("Devis %(number)s à signer") % {"number": quote.number or quote.pk},
            "body": _("Bonjour,\n\nVoici le devis %(number)s (%(total)s) à signer : {{submitter.link}}\n\n"
                      "Merci.") % {"number": quote.number or quote.pk,
                                   "total": money_text(quote.total, quote.currency)},
        },
    }
    if quote.valid_until:
        body["expire_at"] = f"{quote.valid_until:%Y-%m-%d} 23:59:59 UTC"
    return body


def submitter_body(quote, run, contact, position: int, role: str) -> dict:
    return {"role": role, "email": contact.email, "name": str(contact), "order": position,
            "external_id": marker(quote, run, position), "metadata": {"console_quote": quote.pk}}


class DocusealAction(Action):
    provider = "docuseal"
    permission = "core.send_documents"
    model = Quote

    def open_request(self, quote) -> SignatureRequest | None:
        return SignatureRequest.objects.filter(quote=quote, status=SignatureRequest.Status.PENDING).first()

    def run(self, quote, run):
        connection = self.connection()
        if connection is None:
            raise ActionFailed(_("Aucune connexion DocuSeal active."))
        try:
            return self.perform(quote, run, connection, DocusealClient(connection))
        except ApiError as exc:
            raise failure(exc) from exc

    def perform(self, quote, run, connection, api) -> ActionOutcome:
        raise NotImplementedError


class SendForSignature(DocusealAction):
    key = "docuseal.send_for_signature"
    label = gettext_lazy("Envoyer pour signature")
    confirm = gettext_lazy("DocuSeal enverra au client un e-mail l'invitant à signer le devis.")

    def applies_to(self, quote):
        if self.open_request(quote) is not None:
            return False
        return quote.status == Quote.Status.SENT or (
            quote.status == Quote.Status.DRAFT and documents.issuer_for(quote) is not None)

    def confirmation_details(self, quote):
        contacts = [c for c in quote.company.contacts.all() if c.email]
        rows = [(_("Client"), str(quote.company)), (_("Total TTC"), money_text(quote.total, quote.currency)),
                (_("Signataires, dans l'ordre"), ", ".join(f"{c} <{c.email}>" for c in contacts)
                 or _("(aucun contact avec e-mail)"))]
        issuer = documents.issuer_for(quote) if quote.status == Quote.Status.DRAFT else None
        if issuer is not None:
            rows.append((_("Avant l'envoi"), _("le devis est enregistré dans %(system)s avec son numéro définitif et "
                                               "marqué envoyé, sans e-mail de %(system)s") % {"system": issuer.label}))
        return rows

    def perform(self, quote, run, connection, api):
        contacts = signers_of(quote)
        if quote.status == Quote.Status.DRAFT:
            self.issue(quote, run)
        submission, source, template_id = self.resume(api, quote, run)
        if submission is None:
            submission, source, template_id = self.create(api, connection, quote, run, contacts)
        request = self.remember(connection, quote, run, submission, source, template_id)
        names = ", ".join(s.name or s.email for s in request.signers.all())
        return ActionOutcome(
            _("Devis %(number)s envoyé pour signature à %(names)s (DocuSeal, soumission n° %(id)s).")
            % {"number": quote.number or quote.pk, "names": names, "id": request.submission_id},
            {"docuseal_submission_id": request.submission_id})

    def issue(self, quote, run) -> None:
        """A draft gets its number and its document where it will be invoiced before the client signs it."""
        issuer = documents.issuer_for(quote)
        if issuer is None:
            raise ActionFailed(_("Ce devis est un brouillon et aucun système ne peut l'enregistrer maintenant : "
                                 "envoyez-le d'abord."))
        try:
            issuer.issue(quote, run)
        except documents.DocumentUnavailable as exc:
            raise ActionFailed(_("Le devis n'a pas pu être enregistré avant l'envoi pour signature : %(error)s")
                               % {"error": exc}) from exc
        quote.refresh_from_db()

    # A retried run finds what DocuSeal already created -----------------------------------------------
    def resume(self, api, quote, run):
        submission_id = run.external_ids.get("docuseal_submission_id")
        if submission_id is None:
            found = api.list_submitters(external_id=marker(quote, run, 0), limit=1).items
            submission_id = found[0]["submission_id"] if found else None
        if submission_id is None:
            return None, None, None
        submission = api.get_submission(submission_id)
        source = run.external_ids.get("docuseal_source") or (
            SignatureRequest.Source.TEMPLATE if submission.get("template") else SignatureRequest.Source.PDF)
        return submission, source, (submission.get("template") or {}).get("id")

    # Creation ----------------------------------------------------------------------------------------
    def create(self, api, connection, quote, run, contacts):
        if may_accept_pdf(connection):
            try:
                pdf = documents.pdf_for(quote)
            except documents.DocumentUnavailable as exc:
                raise ActionFailed(_("PDF du devis indisponible : %(error)s") % {"error": exc}) from exc
            if pdf is not None:
                try:
                    submission = api.create_submission_from_pdf(self.pdf_body(quote, run, contacts, pdf))
                except ProEditionRequired:
                    remember_edition(connection, EDITION_OPEN_SOURCE)
                else:
                    remember_edition(connection, EDITION_PRO)
                    actions.save_progress(run, docuseal_submission_id=submission["id"], docuseal_source="pdf")
                    return submission, SignatureRequest.Source.PDF, None
        template_id = connection.config.get("template_id")
        if not template_id:
            raise ActionFailed(_("Aucun modèle d'acceptation DocuSeal n'est configuré sur la connexion "
                                 "(nécessaire quand DocuSeal n'accepte pas le PDF du devis) : choisissez-le sur "
                                 "la page DocuSeal."))
        body = self.template_body(api, connection, quote, run, contacts, template_id)
        submitters = api.create_submission(body)
        if not submitters:
            raise ActionFailed(_("DocuSeal n'a créé aucun signataire."))
        submission_id = submitters[0]["submission_id"]
        actions.save_progress(run, docuseal_submission_id=submission_id, docuseal_source="template")
        return ({"id": submission_id, "submitters": submitters}, SignatureRequest.Source.TEMPLATE,
                int(template_id))

    def pdf_body(self, quote, run, contacts, pdf) -> dict:
        if len(contacts) > MAX_PDF_SIGNERS:
            raise ActionFailed(_("Le devis %(number)s ne peut pas porter plus de %(max)s signatures : %(count)s "
                                 "contacts de %(client)s ont une adresse e-mail. Retirez-la des contacts qui ne "
                                 "signent pas.")
                               % {"number": quote.number or quote.pk, "max": MAX_PDF_SIGNERS, "count": len(contacts),
                                  "client": quote.company})
        roles = [_("Signataire %(n)s") % {"n": position + 1} for position in range(len(contacts))]
        fields = [{"name": _("Signature %(n)s") % {"n": position + 1}, "type": "signature", "role": role,
                   "required": True, "areas": [signature_area(position)]}
                  for position, role in enumerate(roles)]
        return {
            **common_body(quote, run, contacts),
            "name": _("Devis %(number)s") % {"number": quote.number or quote.pk},
            "documents": [{"name": pdf.filename.removesuffix(".pdf"),
                           "file": base64.b64encode(pdf.content).decode(), "fields": fields}],
            "submitters": [submitter_body(quote, run, contact, position, roles[position])
                           for position, contact in enumerate(contacts)],
        }

    def template_body(self, api, connection, quote, run, contacts, template_id) -> dict:
        template = api.get_template(int(template_id))
        roles = template.get("submitters") or []
        if not roles:
            raise ActionFailed(_("Le modèle DocuSeal « %(name)s » n'a aucun rôle de signataire.")
                               % {"name": template.get("name")})
        if len(contacts) < len(roles):
            raise ActionFailed(_("Le modèle DocuSeal « %(name)s » attend %(roles)s signataires ; %(client)s n'a que "
                                 "%(contacts)s contact(s) avec e-mail.") % {
                "name": template.get("name"), "roles": len(roles), "client": quote.company,
                "contacts": len(contacts)})
        names = {**DEFAULT_TEMPLATE_FIELDS, **(connection.config.get("template_fields") or {})}
        values = quote_values(quote)
        template_fields = {field.get("name"): field for field in template.get("fields") or []}
        matched = {names[key]: values[key] for key in names if names[key] in template_fields}
        if not matched:
            raise ActionFailed(_("Le modèle DocuSeal « %(name)s » n'a aucun des champs attendus (%(fields)s) : "
                                 "ajoutez-les au modèle ou changez leurs noms dans la configuration de la "
                                 "connexion.") % {"name": template.get("name"),
                                                  "fields": ", ".join(f"« {n} »" for n in names.values())})
        submitters = []
        for position, role in enumerate(roles):
            body = submitter_body(quote, run, contacts[position], position, role["name"])
            own = {name: value for name, value in matched.items()
                   if template_fields[name].get("submitter_uuid") in (role.get("uuid"), None)}
            if position == 0:  # fields of no known role go to the first signer
                known = {r.get("uuid") for r in roles}
                own |= {name: value for name, value in matched.items()
                        if template_fields[name].get("submitter_uuid") not in known}
            if own:
                body["values"] = own
            submitters.append(body)
        return {**common_body(quote, run, contacts), "template_id": int(template_id), "submitters": submitters}

    # Keeping what was sent ---------------------------------------------------------------------------
    def remember(self, connection, quote, run, submission, source, template_id) -> SignatureRequest:
        with transaction.atomic():
            request, created = SignatureRequest.objects.get_or_create(
                connection=connection, submission_id=int(submission["id"]),
                defaults={"quote": quote, "source": source, "template_id": template_id})
            for position, remote in enumerate(sorted(submission.get("submitters") or [],
                                                     key=lambda s: s.get("id") or 0)):
                status = remote.get("status") if remote.get("status") in Signer.Status.values else Signer.Status.SENT
                Signer.objects.get_or_create(request=request, submitter_id=remote["id"], defaults={
                    "order": position, "role": remote.get("role") or "", "name": remote.get("name") or "",
                    "email": remote.get("email") or "", "status": status,
                    "signing_url": remote.get("embed_src") or ""})
            if created:
                waiting = [s for s in request.signers.all()]
                signatures.record(request, _("Envoyé pour signature (%(source)s) à %(names)s.") % {
                    "source": request.get_source_display().lower(),
                    "names": ", ".join(f"{s.name or s.email} ({s.get_status_display().lower()})" for s in waiting)},
                    TimelineEntry.Level.INFO)
            signatures.changed(request)
        return request


def may_accept_pdf(connection) -> bool:
    """Unknown or Pro: try the PDF. Open source: use the template, but ask again once a day (an upgrade)."""
    if connection.config.get("edition") != EDITION_OPEN_SOURCE:
        return True
    seen = parse_datetime(connection.config.get("edition_detected_at") or "")
    return seen is None or timezone.now() - seen > EDITION_RECHECK


def remember_edition(connection, edition: str) -> None:
    """What DocuSeal's answers showed: kept on the connection, with when, for the hub page and the next send."""
    if connection.config.get("edition") == edition and edition != EDITION_OPEN_SOURCE:
        return
    connection.config = {**connection.config, "edition": edition,
                         "edition_detected_at": timezone.now().isoformat(timespec="seconds")}
    connection.save(update_fields=["config", "updated_at"])


class ResendSignature(DocusealAction):
    key = "docuseal.resend_signature"
    label = gettext_lazy("Renvoyer la demande de signature")
    confirm = gettext_lazy("DocuSeal renverra l'e-mail de signature aux signataires qui n'ont pas encore signé.")

    def applies_to(self, quote):
        return self.open_request(quote) is not None

    def perform(self, quote, run, connection, api):
        request = self.open_request(quote)
        if request is None:
            raise ActionFailed(_("Aucune demande de signature en cours pour ce devis."))
        done = set(run.external_ids.get("resent_to") or [])
        for signer in request.signers.filter(status__in=[Signer.Status.SENT, Signer.Status.OPENED,
                                                          Signer.Status.STARTED]):
            if signer.submitter_id in done:
                continue
            api.update_submitter(signer.submitter_id, {"send_email": True})
            done.add(signer.submitter_id)
            actions.save_progress(run, resent_to=sorted(done))
        if not done:
            raise ActionFailed(_("Aucun signataire n'attend de signer en ce moment."))
        emails = ", ".join(s.email for s in request.signers.filter(submitter_id__in=done))
        signatures.record(request, gettext_noop("Demande de signature renvoyée à %(emails)s."),
                          params={"emails": emails})
        return ActionOutcome(_("Demande de signature renvoyée à %(emails)s.") % {"emails": emails},
                             {"docuseal_submission_id": request.submission_id})


class CancelSignature(DocusealAction):
    key = "docuseal.cancel_signature"
    label = gettext_lazy("Annuler la demande de signature")
    confirm = gettext_lazy("La demande de signature sera archivée dans DocuSeal : les liens de signature ne "
                           "fonctionneront plus.")

    def applies_to(self, quote):
        return self.open_request(quote) is not None

    def perform(self, quote, run, connection, api):
        request = self.open_request(quote)
        if request is None:
            raise ActionFailed(_("Aucune demande de signature en cours pour ce devis."))
        api.archive_submission(request.submission_id)
        with transaction.atomic():
            request = SignatureRequest.objects.select_for_update().get(pk=request.pk)
            signatures.close(request, SignatureRequest.Status.ARCHIVED)
            signatures.changed(request)
        return ActionOutcome(_("Demande de signature annulée (soumission DocuSeal n° %(id)s archivée).")
                             % {"id": request.submission_id}, {"docuseal_submission_id": request.submission_id})


ACTIONS = (SendForSignature, ResendSignature, CancelSignature)
