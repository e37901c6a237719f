"""`{% automations_home %}`: on the console home, what the automations need a person for — quotes the client
refused to sign (for sales), automations failed for good ("Relancer") and credits waiting to be matched."""

from datetime import timedelta

from django import template
from django.utils import timezone

from apps.automations.models import BankCredit, Chain
from apps.hub.models import Quote

register = template.Library()
DECLINED_WINDOW = timedelta(days=30)


@register.inclusion_tag("automations/home.html", takes_context=True)
def automations_home(context):
    declined = Chain.objects.filter(rule="quote_declined", created_at__gte=timezone.now() - DECLINED_WINDOW)
    quotes = Quote.objects.filter(pk__in=[int(c.object_id) for c in declined], status=Quote.Status.DECLINED)
    request = context.get("request")
    user = getattr(request, "user", None)
    return {
        "declined_quotes": quotes.select_related("company")[:10],
        "failed_chains": Chain.objects.filter(status=Chain.Status.FAILED)[:10],
        "credits_to_match": BankCredit.objects.filter(status=BankCredit.Status.TO_MATCH).count(),
        "can_relaunch": bool(user and user.has_perm("automations.relaunch_chain")),
        "csrf_token": context.get("csrf_token"),
    }
