"""HTMX views behind the action bar: confirm, start, follow, approve or refuse, and relaunch an ActionRun."""

from django.contrib import messages
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from apps.core import actions, second_factor
from apps.core.console import presenters
from apps.core.console.access import may_view_record, refuse, staff_required
from apps.core.models import ActionRun

MAX_KEY_LENGTH = ActionRun._meta.get_field("idempotency_key").max_length


class NotFound(Exception):
    pass


def _target(content_type_id, object_id):
    try:
        model = ContentType.objects.get_for_id(content_type_id).model_class()
    except ContentType.DoesNotExist:
        raise NotFound from None
    if model is None:
        raise NotFound
    try:
        return model._default_manager.get(pk=object_id)
    except (model.DoesNotExist, ValueError, ValidationError):
        raise NotFound from None


def _action_and_target(key, content_type_id, object_id):
    obj = _target(content_type_id, object_id)
    try:
        action = actions.get(key)
    except KeyError:
        raise NotFound from None
    if action.model._meta.concrete_model is not type(obj)._meta.concrete_model:
        raise NotFound
    return action, obj


def _not_found(request):
    return refuse(request, _("Action ou dossier introuvable."), status=404)


def _safe_next(request, fallback):
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(candidate, {request.get_host()}, request.is_secure()):
        return candidate
    return fallback


def _record_refused(request, model):
    """The refusal to answer when the user may not open the record's page (None when they may)."""
    if may_view_record(request.user, model):
        return None
    return refuse(request, _("Vous n'avez pas accès à ce dossier."))


def _may_see_run(user, run: ActionRun) -> bool:
    """A run shows its record's state (amount, payment ids): same rule as the record's page."""
    return may_view_record(user, run.content_type.model_class())


@require_GET
@staff_required()
def action_bar(request, content_type_id, object_id):
    """The buttons alone, with fresh keys: fetched after a run ends."""
    try:
        obj = _target(content_type_id, object_id)
    except NotFound:
        return _not_found(request)
    if refused := _record_refused(request, type(obj)):
        return refused
    return render(request, "core/actions/buttons.html", presenters.action_bar_context(obj, request))


@require_GET
@staff_required()
def live_state(request, content_type_id, object_id):
    """A record page's live pieces for the user asking (status, panels, buttons), fetched after the record changed."""
    try:
        obj = _target(content_type_id, object_id)
    except NotFound:
        return _not_found(request)
    if refused := _record_refused(request, type(obj)):
        return refused
    context = presenters.live_state_context(obj, request, resumed=bool(request.GET.get("resumed")))
    return render(request, "core/live/record_state.html", context)


@require_GET
@staff_required()
def confirm(request, key, content_type_id, object_id):
    try:
        action, obj = _action_and_target(key, content_type_id, object_id)
    except NotFound:
        return _not_found(request)
    if refused := _record_refused(request, type(obj)):
        return refused
    reason = action.unavailable_reason(obj, request.user)
    if reason:
        return refuse(request, reason)
    return _confirmation(request, action, obj, request.GET.get("key", ""))


def _confirmation(request, action, obj, idempotency_key):
    target = {"content_type_id": ContentType.objects.get_for_model(obj).pk, "object_id": str(obj.pk)}
    context = {
        "action": action,
        "obj": obj,
        "details": action.confirmation_details(obj),
        "idempotency_key": idempotency_key[:MAX_KEY_LENGTH] or presenters.new_idempotency_key(),
        "start_url": reverse("core:action_start", kwargs={"key": action.key, **target}),
        "dismiss_url": reverse("core:action_dismiss"),
        "record_key": presenters.record_key(obj),
        "next": _safe_next(request, ""),
    }
    template = "core/actions/confirm.html" if request.htmx else "core/actions/confirm_page.html"
    return render(request, template, context)


@require_POST
@staff_required()
def start(request, key, content_type_id, object_id):
    try:
        action, obj = _action_and_target(key, content_type_id, object_id)
    except NotFound:
        return _not_found(request)
    if refused := _record_refused(request, type(obj)):
        return refused
    idempotency_key = request.POST.get("key", "").strip()
    if not idempotency_key or len(idempotency_key) > MAX_KEY_LENGTH:
        return refuse(request, _("Demande incomplète : rechargez la page puis réessayez."), status=400)
    if action.confirm and request.POST.get("confirmed") != "yes":
        # Only the confirmation form starts a confirmed action; anything else gets the confirmation first.
        if not actions.user_may_run(action, request.user):
            return refuse(request, _("Vous n'avez pas la permission requise."))
        return _confirmation(request, action, obj, idempotency_key)
    try:
        run, created = actions.start(action, obj, request.user, idempotency_key)
    except actions.ActionUnavailable as exc:
        return refuse(request, str(exc))
    if created:
        outcome = _("Action « %(label)s » lancée.") % {"label": action.label}
    else:
        outcome = _("Action « %(label)s » déjà demandée : aucune nouvelle exécution.") % {"label": action.label}
    if not request.htmx:
        messages.info(request, outcome)
        fallback = reverse("core:action_run", args=[run.pk])
        return HttpResponseRedirect(_safe_next(request, fallback))
    context = presenters.run_status_context(run, request.user)
    context.update(outcome=outcome, refresh_bar=True, user_is_requester=run.user_id == request.user.pk)
    return render(request, "core/actions/run_status.html", context)


@require_GET
@staff_required()
def run_status(request, run_id):
    run = ActionRun.objects.select_related("content_type").filter(pk=run_id).first()
    if run is None or not _may_see_run(request.user, run):
        return refuse(request, _("Exécution introuvable."), status=404)
    context = presenters.run_status_context(run, request.user)
    # A poll that sees the run finished also refreshes the buttons (availability changed, new keys).
    context.update(
        refresh_bar=bool(request.htmx) and not context["is_active"],
        user_is_requester=run.user_id == request.user.pk,
    )
    template = "core/actions/run_status.html" if request.htmx else "core/actions/run_status_page.html"
    return render(request, template, context)


@require_POST
@staff_required()
def approve(request, run_id):
    # Approving also needs the approval permission: actions.approve() checks it.
    run = ActionRun.objects.select_related("content_type").filter(pk=run_id).first()
    if run is None or not _may_see_run(request.user, run):
        return refuse(request, _("Exécution introuvable."), status=404)
    if run.status != ActionRun.Status.PENDING_APPROVAL:
        return refuse(request, _("Cette exécution n'attend pas d'approbation."), status=409)
    if presenters.can_approve(run, request.user) and not second_factor.fresh_code_matches(
        request.user, request.POST.get("otp_token", "")
    ):
        # Runs wait for approval only above the payment threshold: releasing one asks for a fresh code.
        return refuse(request, _("Code de vérification incorrect ou déjà utilisé : saisissez le nouveau code de "
                                 "votre application d'authentification pour approuver."))
    try:
        run = actions.approve(run, request.user)
    except KeyError:
        return refuse(request, _("Action inconnue."), status=404)
    except actions.ActionUnavailable as exc:
        return refuse(request, str(exc))
    if not request.htmx:
        messages.success(request, _("Approbation enregistrée."))
        return HttpResponseRedirect(reverse("core:action_run", args=[run.pk]))
    context = presenters.run_status_context(run, request.user)
    return render(request, "core/actions/run_status.html", context)


@require_POST
@staff_required()
def relaunch(request, run_id):
    """"Relancer" on a failed run: the same permission as the action itself (actions.relaunch checks it)."""
    run = ActionRun.objects.select_related("content_type").filter(pk=run_id).first()
    if run is None or not _may_see_run(request.user, run):
        return refuse(request, _("Exécution introuvable."), status=404)
    try:
        run = actions.relaunch(run, request.user)
    except KeyError:
        return refuse(request, _("Action inconnue."), status=404)
    except actions.ActionUnavailable as exc:
        return refuse(request, str(exc))
    outcome = _("Action « %(label)s » relancée.") % {"label": run.label}
    if not request.htmx:
        messages.info(request, outcome)
        return HttpResponseRedirect(_safe_next(request, reverse("core:action_run", args=[run.pk])))
    context = presenters.run_status_context(run, request.user)
    context.update(outcome=outcome, user_is_requester=run.user_id == request.user.pk)
    return render(request, "core/actions/run_status.html", context)


@require_POST
@staff_required()
def refuse_run(request, run_id):
    """"Refuser" next to "Approuver": a reason is required; refusing moves no money, so no code is asked."""
    run = ActionRun.objects.select_related("content_type").filter(pk=run_id).first()
    if run is None or not _may_see_run(request.user, run):
        return refuse(request, _("Exécution introuvable."), status=404)
    if run.status != ActionRun.Status.PENDING_APPROVAL:
        return refuse(request, _("Cette exécution n'attend pas d'approbation."), status=409)
    try:
        run = actions.refuse(run, request.user, request.POST.get("reason", ""))
    except KeyError:
        return refuse(request, _("Action inconnue."), status=404)
    except actions.ActionUnavailable as exc:
        return refuse(request, str(exc), status=400 if presenters.can_approve(run, request.user) else 403)
    if not request.htmx:
        messages.success(request, _("Refus enregistré."))
        return HttpResponseRedirect(_safe_next(request, reverse("core:action_run", args=[run.pk])))
    context = presenters.run_status_context(run, request.user)
    return render(request, "core/actions/run_status.html", context)


@require_GET
@staff_required()
def dismiss(request):
    return HttpResponse("")
