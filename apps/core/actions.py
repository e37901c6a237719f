"""Contextual actions: the buttons staff click on hub records ("Envoyer le devis", "Payer via Revolut").

Each system app declares Action subclasses for hub models and registers them. The same registry
feeds the HTMX action bar on record pages, the admin change form and the admin list actions.
A click becomes an ActionRun keyed by an idempotency key minted when the button was rendered, so a
double click or a retried POST finds the same run instead of acting twice. The work itself runs in
a background job; money-moving actions may require a second, different approver first.
"""

from __future__ import annotations

import logging
import traceback
from dataclasses import dataclass, field
from typing import ClassVar

import django_rq
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from redis.exceptions import LockError

from apps.core import jobs
from apps.core.models import ActionRun, Connection
from apps.core.signals import action_run_changed

logger = logging.getLogger(__name__)

# Two jobs for one ActionRun (a duplicated enqueue) must not both call the vendor.
EXECUTION_LEASE_SECONDS = 600


class ActionFailed(Exception):
    """A user-readable failure (French). Anything else is logged with its traceback."""


class ActionUnavailable(PermissionDenied):
    pass


@dataclass
class ActionOutcome:
    message: str
    external_ids: dict = field(default_factory=dict)


class Action:
    key: ClassVar[str]  # "invoiceninja.send_quote"
    label: ClassVar[str]  # "Envoyer le devis"
    model: ClassVar[type[models.Model]]
    provider: ClassVar[str]  # Connection.provider this action talks to
    permission: ClassVar[str]  # "core.send_documents"
    # Text of the confirmation step; None runs on click. Money and email actions always confirm.
    confirm: ClassVar[str | None] = None
    approval_permission: ClassVar[str | None] = None  # set for actions that may need a second approver
    css_class: ClassVar[str] = ""

    # Availability -------------------------------------------------------------------------------
    def connection(self) -> Connection | None:
        return Connection.objects.filter(provider=self.provider, is_active=True).order_by("pk").first()

    def applies_to(self, obj) -> bool:
        """State check only (quote is a draft, bill is unpaid...)."""
        return True

    def is_available(self, obj, user) -> bool:
        return self.unavailable_reason(obj, user) is None

    def unavailable_reason(self, obj, user) -> str | None:
        if not user_may_run(self, user):
            return _("Vous n'avez pas la permission requise.")
        if not self.applies_to(obj):
            return _("Action non applicable dans l'état actuel.")
        connection = self.connection()
        if connection is None:
            return _("Aucune connexion active pour ce système.")
        if not connection.is_healthy:
            return _("Connexion indisponible : %(state)s.") % {"state": connection.health_label}
        return None

    def confirmation_details(self, obj) -> list[tuple[str, str]]:
        """Label/value rows shown on the confirmation screen (amount, account, recipient...)."""
        return []

    def needs_approval(self, obj, user) -> bool:
        return False

    def approval_summary(self, obj) -> list[tuple[str, str]]:
        """What the second approver approves (amount, recipient, rule): the confirmation's rows by default."""
        return self.confirmation_details(obj)

    # Execution ----------------------------------------------------------------------------------
    def run(self, obj, run: ActionRun) -> ActionOutcome:
        """Do the work. Must be resumable: a retried job sees the external ids saved so far on `run`."""
        raise NotImplementedError


def user_may_run(action: Action, user) -> bool:
    return bool(user.is_active and user.is_staff and user.has_perm(action.permission))


_registry: dict[str, Action] = {}


def register(action_class: type[Action]) -> type[Action]:
    _registry[action_class.key] = action_class()
    return action_class


def get(key: str) -> Action:
    return _registry[key]


def for_model(model) -> list[Action]:
    concrete = model._meta.concrete_model
    return [a for a in _registry.values() if a.model._meta.concrete_model is concrete]


def for_object(obj, user) -> list[tuple[Action, str | None]]:
    """Every action declared for the object's model, with the reason it is unavailable (None = available)."""
    return [(action, action.unavailable_reason(obj, user)) for action in for_model(type(obj))]


def runs_for(obj):
    return ActionRun.objects.filter(
        content_type=ContentType.objects.get_for_model(obj), object_id=str(obj.pk)
    ).select_related("user")


def start(action: Action, obj, user, idempotency_key: str) -> tuple[ActionRun, bool]:
    """Record the click and queue the work; a repeated key returns the first run (created=False)."""
    if not user_may_run(action, user):
        raise ActionUnavailable(_("Vous n'avez pas la permission requise."))
    content_type = ContentType.objects.get_for_model(obj)
    existing = ActionRun.objects.filter(idempotency_key=idempotency_key).first()
    if existing is not None:
        if (existing.action, existing.content_type_id, existing.object_id, existing.user_id) != (
            action.key, content_type.pk, str(obj.pk), user.pk
        ):
            # A key is minted for one button of one user; reusing it elsewhere is a forged request.
            raise ActionUnavailable(_("Cette demande a déjà été utilisée pour une autre action."))
        return existing, False
    in_flight = runs_for(obj).filter(
        action=action.key, status__in=[ActionRun.Status.RUNNING, ActionRun.Status.PENDING_APPROVAL]
    ).first()
    if in_flight is not None:
        # A second button (another tab, a reloaded page) while the first click is still being worked on.
        return in_flight, False
    reason = action.unavailable_reason(obj, user)
    if reason:
        raise ActionUnavailable(reason)
    pending = action.needs_approval(obj, user)
    try:
        with transaction.atomic():
            run = ActionRun.objects.create(
                action=action.key,
                label=action.label,
                content_type=content_type,
                object_id=str(obj.pk),
                user=user,
                idempotency_key=idempotency_key,
                status=ActionRun.Status.PENDING_APPROVAL if pending else ActionRun.Status.RUNNING,
                message=_("En attente d'un second approbateur.") if pending else _("En cours…"),
            )
            if not pending:
                jobs.enqueue_on_commit(execute, run.pk, queue="default")
    except IntegrityError:
        return ActionRun.objects.get(idempotency_key=idempotency_key), False
    transaction.on_commit(lambda: action_run_changed.send(sender=ActionRun, run=run))
    return run, True


def approve(run: ActionRun, approver) -> ActionRun:
    """A second, different user with the approval permission releases a run held for approval."""
    action = get(run.action)
    if run.user_id == approver.pk:
        raise ActionUnavailable(_("L'approbation doit venir d'un autre utilisateur."))
    if not action.approval_permission or not approver.has_perm(action.approval_permission):
        raise ActionUnavailable(_("Vous n'avez pas la permission d'approuver ce paiement."))
    with transaction.atomic():
        updated = ActionRun.objects.filter(pk=run.pk, status=ActionRun.Status.PENDING_APPROVAL).update(
            status=ActionRun.Status.RUNNING,
            message=_("Approuvé par %(user)s ; en cours…") % {"user": approver.get_username()},
            external_ids=dict(run.external_ids, approved_by=approver.get_username()),
        )
        if updated:
            jobs.enqueue_on_commit(execute, run.pk, queue="default")
    run.refresh_from_db()
    transaction.on_commit(lambda: action_run_changed.send(sender=ActionRun, run=run))
    return run


def refuse(run: ActionRun, approver, reason: str) -> ActionRun:
    """The second person says no: the run ends refused, with who and why; nothing runs."""
    action = get(run.action)
    reason = " ".join((reason or "").split())[:300]
    if run.user_id == approver.pk:
        raise ActionUnavailable(_("Le refus doit venir d'un autre utilisateur que le demandeur."))
    if not action.approval_permission or not approver.has_perm(action.approval_permission):
        raise ActionUnavailable(_("Vous n'avez pas la permission de refuser ce paiement."))
    if not reason:
        raise ActionUnavailable(_("Indiquez le motif du refus : le demandeur le lira sur le dossier."))
    with transaction.atomic():
        ActionRun.objects.filter(pk=run.pk, status=ActionRun.Status.PENDING_APPROVAL).update(
            status=ActionRun.Status.REFUSED,
            message=_("Refusé par %(user)s : %(reason)s") % {"user": approver.get_username(), "reason": reason},
            external_ids=dict(run.external_ids, refused_by=approver.get_username()),
            finished_at=timezone.now(),
        )
    run.refresh_from_db()
    transaction.on_commit(lambda: action_run_changed.send(sender=ActionRun, run=run))
    return run


def waiting_for(user) -> list[ActionRun]:
    """Runs held for a second approver that this user may release (never their own requests)."""
    if not (user.is_active and user.is_staff):
        return []
    held = ActionRun.objects.filter(status=ActionRun.Status.PENDING_APPROVAL).exclude(user=user)
    keys = [key for key, action in _registry.items()
            if action.approval_permission and user.has_perm(action.approval_permission)]
    return list(held.filter(action__in=keys).select_related("user", "content_type").order_by("created_at"))


def execute(run_id: int) -> None:
    """The job: run the action once. A run that already finished, or that another worker holds, is left alone."""
    claim = django_rq.get_connection("default").lock(f"console:action-run:{run_id}", timeout=EXECUTION_LEASE_SECONDS,
                                                     blocking=False)
    if not claim.acquire():
        return
    try:
        _execute_claimed(run_id)
    finally:
        try:
            claim.release()
        except LockError:
            pass  # the lease expired during a very long run; nothing else to undo


def _execute_claimed(run_id: int) -> None:
    run = ActionRun.objects.select_related("content_type", "user").get(pk=run_id)
    if run.status != ActionRun.Status.RUNNING:
        return
    action = get(run.action)
    obj = run.content_type.get_object_for_this_type(pk=run.object_id)
    try:
        outcome = action.run(obj, run)
    except ActionFailed as exc:
        _finish(run, ActionRun.Status.FAILED, str(exc), error=str(exc))
    except Exception as exc:
        logger.exception("Action %s en échec", run.action)
        _finish(run, ActionRun.Status.FAILED, _("Échec inattendu : %(error)s") % {"error": exc},
                error=traceback.format_exc())
    else:
        _finish(run, ActionRun.Status.SUCCEEDED, outcome.message, external_ids=outcome.external_ids)


def save_progress(run: ActionRun, **external_ids) -> None:
    """Persist external ids as soon as they exist, so a retry resumes instead of creating twice."""
    run.external_ids = {**run.external_ids, **external_ids}
    ActionRun.objects.filter(pk=run.pk).update(external_ids=run.external_ids)


def _finish(run: ActionRun, status, message, *, error="", external_ids=None):
    run.status = status
    run.message = str(message)[:500]
    run.error = error
    run.external_ids = {**run.external_ids, **(external_ids or {})}
    run.finished_at = timezone.now()
    run.save(update_fields=["status", "message", "error", "external_ids", "finished_at"])
    action_run_changed.send(sender=ActionRun, run=run)
