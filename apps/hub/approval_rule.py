"""Which payments need a second approver, and the sentence that says why.

The threshold (settings.PAYMENT_APPROVAL_THRESHOLD) is an amount in the reference currency
(settings.REFERENCE_CURRENCY, EUR by default). A bill in another currency is converted with the latest
ExchangeRate an admin recorded for it (its date is shown with it); with no rate, the payment needs a
second approver: a missing rate never lets money out with a single pair of eyes.
"""

from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.core.numbers import format_money, format_rate
from apps.hub.models import ExchangeRate, money


@dataclass(frozen=True)
class ApprovalRule:
    needed: bool
    explanation: str


def approval_rule(amount: Decimal, currency: str) -> ApprovalRule:
    reference = settings.REFERENCE_CURRENCY
    threshold = settings.PAYMENT_APPROVAL_THRESHOLD
    limit = format_money(threshold, reference)
    if currency == reference:
        converted, conversion = amount, ""
    else:
        rate = (ExchangeRate.objects.filter(currency=currency, valid_on__lte=timezone.localdate())
                .order_by("-valid_on").first())
        if rate is None:
            return ApprovalRule(True, _(
                "Aucun taux %(currency)s → %(reference)s enregistré (Hub › Taux de change) : second approbateur "
                "requis par prudence (seuil %(limit)s).") % {"currency": currency, "reference": reference,
                                                             "limit": limit})
        converted = money(amount * rate.rate)
        conversion = _(" ≈ %(converted)s au taux du %(date)s (1 %(currency)s = %(rate)s %(reference)s)") % {
            "converted": format_money(converted, reference), "date": rate.valid_on.strftime("%d/%m/%Y"),
            "currency": currency, "rate": format_rate(rate.rate), "reference": reference}
    shown = format_money(amount, currency) + conversion
    if converted > threshold:
        return ApprovalRule(True, _("%(amount)s : au-delà du seuil de %(limit)s, un second approbateur est requis.")
                            % {"amount": shown, "limit": limit})
    return ApprovalRule(False, _("%(amount)s : dans la limite de %(limit)s, sans second approbateur.")
                        % {"amount": shown, "limit": limit})
