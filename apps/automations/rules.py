"""The automations a user can see and switch, and the steps of each.

A rule names its subject (the hub record the chain works on) and its steps. A step is one system app's
action (apps/core/actions.py registry) run on a target; `done` tells a step already done some other way
(by hand, by a replayed webhook, by an earlier attempt) so it is skipped instead of redone, and returns
what later steps need. A rule without steps records its outcome and ends at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from django.utils.translation import gettext_lazy as _

from apps.hub.models import Invoice, Quote


@dataclass(frozen=True)
class Step:
    key: str
    label: str
    action: str  # key in the actions registry
    target: Callable  # (chain) -> the hub record the action runs on
    done: Callable  # (chain, target) -> dict of outputs when already done, else None


@dataclass(frozen=True)
class Rule:
    key: str
    label: str
    description: str
    steps: tuple[Step, ...] = field(default_factory=tuple)


def _quote(chain) -> Quote:
    return Quote.objects.get(pk=chain.object_id)


def _converted_invoice(chain) -> Invoice:
    return Invoice.objects.get(pk=chain.context["invoice_pk"])


def _approved(chain, quote):
    # Past approval once converted; otherwise only Invoice Ninja knows, and approving twice is harmless.
    return {} if quote.status == Quote.Status.CONVERTED else None


def _converted(chain, quote):
    invoice = Invoice.objects.filter(quote=quote).order_by("pk").first()
    return {"invoice_pk": invoice.pk} if invoice else None


def _invoice_sent(chain, invoice):
    return {} if invoice.status != Invoice.Status.DRAFT else None


def _invoice(chain) -> Invoice:
    return Invoice.objects.get(pk=chain.object_id)


def _invoice_paid(chain, invoice):
    return {} if invoice.status == Invoice.Status.PAID else None


QUOTE_SIGNED = Rule(
    key="quote_signed",
    label=_("Devis signé → facture envoyée"),
    description=_("Quand DocuSeal annonce un devis signé : le devis est approuvé dans Invoice Ninja, converti en "
                  "facture, puis la facture est envoyée au client."),
    steps=(
        Step("approve", _("Approuver le devis dans Invoice Ninja"), "invoiceninja.approve_quote", _quote, _approved),
        Step("convert", _("Convertir en facture"), "invoiceninja.convert_quote", _quote, _converted),
        Step("send_invoice", _("Envoyer la facture"), "invoiceninja.send_invoice", _converted_invoice,
             _invoice_sent),
    ),
)
QUOTE_DECLINED = Rule(
    key="quote_declined",
    label=_("Devis refusé → signalé aux commerciaux"),
    description=_("Quand le client refuse de signer : le devis est marqué refusé et apparaît sur l'accueil de la "
                  "console."),
)
BANK_CREDIT = Rule(
    key="bank_credit",
    label=_("Virement Revolut reçu → facture payée"),
    description=_("Un virement entrant dont la référence ou le montant et le payeur désignent une seule facture "
                  "ouverte (même devise, montant égal au solde dû) : la facture est marquée payée dans Invoice "
                  "Ninja et dans la console, les relances Mautic s'arrêtent. Sinon il attend dans « À rapprocher »."),
    steps=(
        Step("mark_paid", _("Marquer payée"), "invoiceninja.mark_paid", _invoice, _invoice_paid),
    ),
)

PAYMENT_THANKS = Rule(
    key="payment_thanks",
    label=_("Facture payée → remerciement Mautic"),
    description=_("Quand une facture devient payée (paiement Invoice Ninja ou virement Revolut) et que la connexion "
                  "Mautic a un e-mail de remerciement configuré (thank_you_email) : il est envoyé au client, une "
                  "fois. Les relances Mautic s'arrêtent d'elles-mêmes."),
    steps=(
        Step("thanks", _("Envoyer un remerciement Mautic"), "mautic.send_thanks", _invoice, lambda chain, i: None),
    ),
)

RULES = {rule.key: rule for rule in (QUOTE_SIGNED, QUOTE_DECLINED, BANK_CREDIT, PAYMENT_THANKS)}


def is_enabled(key: str) -> bool:
    from apps.automations.models import Rule as RuleRow

    row = RuleRow.objects.filter(key=key).first()
    return True if row is None else row.enabled
