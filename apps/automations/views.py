"""The automations page (each rule, on/off, its last chains and their steps), "Relancer" for a chain failed for
good, and the "À rapprocher" list of incoming credits a user confirms with one click. Every write is a CSRF-
checked POST with its own permission; reading needs the console permission."""

from __future__ import annotations

from functools import wraps

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_POST

from apps.automations import chains, matching
from apps.automations.models import BankCredit, Chain, Rule
from apps.automations.rules import RULES
from apps.core.models import ActionRun
from apps.hub.models import Invoice

LAST_CHAINS = 10


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


def shell(request, title: str, **extra) -> dict:
    return {**admin.site.each_context(request), "title": title, **extra}


def chain_runs(chain: Chain) -> list[ActionRun]:
    return list(ActionRun.objects.filter(idempotency_key__startswith=f"auto:{chain.pk}:").order_by("pk"))


@require_GET
@staff_permission_required("core.view_console")
def rules_page(request):
    rows = {row.key: row for row in Rule.objects.all()}
    rules = []
    for rule in RULES.values():
        last = list(Chain.objects.filter(rule=rule.key).select_related("content_type")[:LAST_CHAINS])
        rules.append({"rule": rule, "enabled": rows[rule.key].enabled if rule.key in rows else True,
                      "row": rows.get(rule.key),
                      "chains": [{"chain": c, "runs": chain_runs(c)} for c in last]})
    return render(request, "automations/rules.html", shell(
        request, _("Automatisations"), rules=rules,
        can_switch=request.user.has_perm("automations.switch_rule"),
        can_relaunch=request.user.has_perm("automations.relaunch_chain"),
    ))


@require_POST
@staff_permission_required("automations.switch_rule")
def switch_rule(request, key):
    if key not in RULES:
        raise PermissionDenied(_("Automatisation inconnue."))
    enabled = request.POST.get("enabled") == "on"
    Rule.objects.update_or_create(key=key, defaults={"enabled": enabled, "changed_by": request.user})
    messages.success(request, (_("« %(rule)s » activée.") if enabled else _("« %(rule)s » désactivée."))
                     % {"rule": RULES[key].label})
    skipped = Chain.objects.filter(rule=key, status=Chain.Status.SKIPPED).count()
    if enabled and skipped and RULES[key].steps:
        messages.warning(request, ngettext(
            "%(count)d événement arrivé pendant la désactivation a été ignoré : il est listé ci-dessous, « Exécuter "
            "maintenant » le traite.",
            "%(count)d événements arrivés pendant la désactivation ont été ignorés : ils sont listés ci-dessous, "
            "« Exécuter maintenant » les traite un par un.", skipped) % {"count": skipped})
    return redirect("automations:rules")


@require_POST
@staff_permission_required("automations.relaunch_chain")
def relaunch_chain(request, pk):
    chain = get_object_or_404(Chain, pk=pk)
    if chain.status != Chain.Status.FAILED:
        messages.info(request, _("Cette automatisation n'est pas en échec."))
    else:
        chains.relaunch(chain, request.user)
        messages.success(request, _("Automatisation relancée."))
    target = request.POST.get("next") or ""
    return redirect(target if target in ("/admin/",) else "automations:rules")


@require_POST
@staff_permission_required("automations.relaunch_chain")
def run_chain(request, pk):
    refused = chains.run_now(get_object_or_404(Chain, pk=pk), request.user)
    if refused:
        messages.error(request, refused)
    else:
        messages.success(request, _("Automatisation lancée."))
    target = request.POST.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                                  require_https=request.is_secure()):
        return redirect(target)  # back to the record whose panel offered it
    return redirect("automations:rules")


@require_GET
@staff_permission_required("automations.view_bankcredit")
def credits_page(request):
    to_match = BankCredit.objects.filter(status=BankCredit.Status.TO_MATCH).prefetch_related("candidates__company")
    rows = []
    for credit in to_match[:100]:
        options = list(credit.candidates.all()) or list(
            Invoice.objects.filter(status__in=matching.OPEN, currency=credit.currency)
            .select_related("company").order_by("due_date", "pk")[:20])
        rows.append({"credit": credit, "options": options})
    decided = BankCredit.objects.exclude(status=BankCredit.Status.TO_MATCH).select_related("invoice")[:20]
    return render(request, "automations/credits.html", shell(
        request, _("Virements à rapprocher"), rows=rows, decided=decided,
        can_match=request.user.has_perm("automations.match_credit"),
    ))


@require_POST
@staff_permission_required("automations.match_credit")
def confirm_credit(request, pk):
    credit = get_object_or_404(BankCredit, pk=pk)
    try:
        invoice = Invoice.objects.get(pk=int(request.POST.get("invoice") or 0))
    except (ValueError, Invoice.DoesNotExist):
        messages.error(request, _("Choisissez une facture."))
        return redirect("automations:credits")
    refused = matching.confirm(credit, invoice, request.user)
    if refused:
        messages.error(request, refused)
    else:
        messages.success(request, _("Virement rapproché de la facture %(number)s.") % {"number": invoice})
    return redirect("automations:credits")


@require_POST
@staff_permission_required("automations.match_credit")
def dismiss_credit(request, pk):
    updated = BankCredit.objects.filter(pk=pk, status=BankCredit.Status.TO_MATCH).update(
        status=BankCredit.Status.DISMISSED, decided_by=request.user)
    if updated:
        messages.success(request, _("Virement écarté : il ne paiera aucune facture."))
    return redirect("automations:credits")
