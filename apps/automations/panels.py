"""The "Automatisations" panel on a quote or an invoice: each chain that worked on it, its cause, and what it
waits for (a system down, a backoff) or why it failed for good, with "Relancer" for those allowed to, and
"Exécuter maintenant" for a cause ignored while its rule was off (once it is on again)."""

from django.contrib.contenttypes.models import ContentType
from django.utils.translation import gettext_lazy as _

from apps.automations.models import Chain
from apps.automations.rules import RULES, is_enabled
from apps.core.record_panels import RecordPanel


def panel_context(obj, user):
    chains = list(Chain.objects.filter(content_type=ContentType.objects.get_for_model(obj), object_id=str(obj.pk)))
    if not chains:
        return None
    return {"chains": [{"chain": c, "label": RULES[c.rule].label if c.rule in RULES else c.rule,
                        "may_run_now": c.status == Chain.Status.SKIPPED and c.rule in RULES and bool(RULES[c.rule].steps)
                        and is_enabled(c.rule)} for c in chains],
            "can_relaunch": user.has_perm("automations.relaunch_chain"),
            "here": obj.get_absolute_url() if hasattr(obj, "get_absolute_url") else ""}


PANEL = RecordPanel(_("Automatisations"), "automations/panel.html", panel_context)
