"""Contextual actions: the buttons staff click on hub records ("Envoyer le devis", "Payer via Revolut").

Each system app declares Action subclasses for hub models and registers them. The same registry
feeds the HTMX action bar on record pages, the admin change form and the admin list actions.
A click becomes an ActionRun keyed by an idempotency key minted when the button was rendered, so a
double click or a retried POST finds the same run instead of acting twice. The work itself runs in
a background job; money-moving actions may require a second, different approver first.

A run is never stuck. Its job has one id per run; a worker claims the run in the database (one claim at a
time) and heartbeats it while the action runs. Every 15 s `recover_stalled_runs` re-enqueues, under the same
run and idempotency key, a run whose job never started and was lost (Redis down or restarted) or whose worker
died; while it waits its page says why (apps.core.jobs.why_waiting). A run that cannot complete — its worker
died MAX_ATTEMPTS times, it could not start within ACTION_RUN_START_DEADLINE_MINUTES, its record is gone —
ends as failed with the reason, and whoever may run the action can `relaunch` it (same run, same key).
"""

from __future__ import annotations

import logging
import threading
import traceback
from dataclasses import dataclass, field
from datetime import timedelta
from typing import ClassVar

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied
from django.db import DatabaseError, IntegrityError, connection as db_connection, models, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _
from redis.exceptions import RedisError

from apps.core import jobs, record_history
from apps.core.models import ActionRun, Connection
from apps.core.signals import action_run_changed

logger = logging.getLogger(__name__)

# While an action runs its worker touches `heartbeat_at` this often; a run silent for STALE_AFTER_SECONDS has
# lost its worker, and another job may claim it (two jobs for one run never both call the vendor).
HEARTBEAT_SECONDS = 5
STALE_AFTER_SECONDS = 20
# The recovery sweep leaves a run alone this long after it was queued (its job is normally on its way).
RECOVER_AFTER_SECONDS = 15
MAX_ATTEMPTS = 3


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
                queued_at=None if pending else timezone.now(),
            )
            if not pending:
                _enqueue_on_commit(run.pk)
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
            queued_at=timezone.now(),
        )
        if updated:
            _enqueue_on_commit(run.pk)
    run.refresh_from_db()
    transaction.on_commit(lambda: action_run_changed.send(sender=ActionRun, run=run))
    return run


def job_id_for(run_id: int) -> str:
    """One job id per run, so the recovery sweep can tell a lost job from a live one (apps.core.jobs)."""
    return f"action-run-{run_id}"


def _enqueue_on_commit(run_id: int) -> None:
    jobs.enqueue_on_commit(execute, run_id, queue="default", job_id=job_id_for(run_id))


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
    """The job: run the action once. A run that already finished, or that a live worker holds, is left alone."""
    now = timezone.now()
    claimed = (
        ActionRun.objects.filter(pk=run_id, status=ActionRun.Status.RUNNING)
        .filter(Q(heartbeat_at__isnull=True) | Q(heartbeat_at__lt=now - timedelta(seconds=STALE_AFTER_SECONDS)))
        .update(started_at=now, heartbeat_at=now, attempts=F("attempts") + 1)
    )
    if not claimed:
        return
    heartbeat = _Heartbeat(run_id)
    heartbeat.start()
    try:
        _execute_claimed(run_id)
    finally:
        heartbeat.stop()


class _Heartbeat(threading.Thread):
    """Touches the run's `heartbeat_at` every HEARTBEAT_SECONDS until stopped: the worker is alive."""

    def __init__(self, run_id: int):
        super().__init__(name=f"action-run-{run_id}-heartbeat", daemon=True)
        self.run_id = run_id
        self._stopped = threading.Event()

    def run(self):
        try:
            while not self._stopped.wait(HEARTBEAT_SECONDS):
                try:
                    ActionRun.objects.filter(pk=self.run_id, status=ActionRun.Status.RUNNING).update(
                        heartbeat_at=timezone.now()
                    )
                except DatabaseError as exc:
                    logger.warning("Signe de vie de l'action %s non enregistré : %s", self.run_id, exc)
        finally:
            db_connection.close()

    def stop(self):
        self._stopped.set()
        self.join(timeout=HEARTBEAT_SECONDS * 2)


def _execute_claimed(run_id: int) -> None:
    run = ActionRun.objects.select_related("content_type", "user").get(pk=run_id)
    if run.status != ActionRun.Status.RUNNING:
        return
    try:
        action = get(run.action)
        obj = run.content_type.get_object_for_this_type(pk=run.object_id)
    except (KeyError, ObjectDoesNotExist):
        reason = _("Action ou dossier introuvable : l'action ne peut pas s'exécuter.")
        _finish(run, ActionRun.Status.FAILED, reason, error=reason)
        return
    try:
        with record_history.changes_by(run.user):  # what the action changes is the requester's doing
            outcome = action.run(obj, run)
    except ActionFailed as exc:
        _finish(run, ActionRun.Status.FAILED, str(exc), error=str(exc))
    except Exception as exc:
        logger.exception("Action %s en échec", run.action)
        _finish(run, ActionRun.Status.FAILED, _("Échec inattendu : %(error)s") % {"error": exc},
                error=traceback.format_exc())
    else:
        _finish(run, ActionRun.Status.SUCCEEDED, outcome.message, external_ids=outcome.external_ids)


def recover_stalled_runs(*, limit: int = 200) -> dict[str, int]:
    """The periodic sweep (every 15 s): re-enqueue runs whose job was lost or whose worker died; give up on runs
    that cannot complete. Returns {"requeued": n, "failed": n}; does nothing while Redis is unreachable."""
    now = timezone.now()
    candidates = list(
        ActionRun.objects.filter(status=ActionRun.Status.RUNNING,
                                 queued_at__lt=now - timedelta(seconds=RECOVER_AFTER_SECONDS))
        .filter(Q(heartbeat_at__isnull=True) | Q(heartbeat_at__lt=now - timedelta(seconds=STALE_AFTER_SECONDS)))
        .order_by("queued_at")[:limit]
    )
    result = {"requeued": 0, "failed": 0}
    if not candidates:
        return result
    try:
        alive = jobs.live_job_ids([job_id_for(run.pk) for run in candidates], queue="default")
    except RedisError as exc:
        logger.warning("Reprise des actions reportée : Redis indisponible (%s)", exc)
        return result
    deadline = timedelta(minutes=settings.ACTION_RUN_START_DEADLINE_MINUTES)
    for run in candidates:
        if job_id_for(run.pk) in alive:
            continue  # waiting its turn, or running on a worker that beats
        if run.attempts >= MAX_ATTEMPTS:
            result["failed"] += _give_up(run, _(
                "Le worker s'est arrêté %(count)d fois pendant cette action : abandon. Vérifiez dans le système "
                "concerné si elle a eu lieu avant de la relancer."
            ) % {"count": run.attempts})
        elif run.started_at is None and now - run.queued_at > deadline:
            result["failed"] += _give_up(run, _(
                "Non démarrée dans les %(minutes)d minutes qui ont suivi la demande (Redis ou les workers "
                "étaient arrêtés) : abandon. Relancez-la si elle est toujours voulue."
            ) % {"minutes": int(deadline.total_seconds() // 60)})
        else:
            message = (_("Reprise après l'arrêt du worker (tentative %(attempt)d)…") % {"attempt": run.attempts + 1}
                       if run.started_at else _("Remise en file : sa tâche avait été perdue."))
            if jobs.enqueue_now(execute, run.pk, queue="default", job_id=job_id_for(run.pk)) is None:
                break  # Redis went away again; the next sweep carries on
            ActionRun.objects.filter(pk=run.pk, status=ActionRun.Status.RUNNING).update(
                queued_at=timezone.now(), message=message
            )
            run.refresh_from_db()
            action_run_changed.send(sender=ActionRun, run=run)
            result["requeued"] += 1
    if result["requeued"] or result["failed"]:
        logger.info("Reprise des actions : %(requeued)s remises en file, %(failed)s abandonnées", result)
    return result


def _give_up(run: ActionRun, reason: str) -> int:
    # Conditional: a worker that claimed the run meanwhile keeps it.
    updated = ActionRun.objects.filter(pk=run.pk, status=ActionRun.Status.RUNNING, attempts=run.attempts).update(
        status=ActionRun.Status.FAILED, message=reason[:500], error=reason, finished_at=timezone.now()
    )
    if updated:
        run.refresh_from_db()
        action_run_changed.send(sender=ActionRun, run=run)
    return updated


def relaunch(run: ActionRun, user) -> ActionRun:
    """Start a failed run again — same run, same idempotency key, external ids kept so the action resumes — for
    a user who may run the action. Needs a new approval when the action asks for one."""
    action = get(run.action)
    if not user_may_run(action, user):
        raise ActionUnavailable(_("Vous n'avez pas la permission requise."))
    if run.status != ActionRun.Status.FAILED:
        raise ActionUnavailable(_("Seule une action en échec peut être relancée."))
    obj = run.target
    if obj is None:
        raise ActionUnavailable(_("Le dossier de cette action n'existe plus."))
    in_flight = runs_for(obj).filter(
        action=action.key, status__in=[ActionRun.Status.RUNNING, ActionRun.Status.PENDING_APPROVAL]
    ).first()
    if in_flight is not None:
        return in_flight
    reason = action.unavailable_reason(obj, user)
    if reason:
        raise ActionUnavailable(reason)
    pending = action.needs_approval(obj, user)
    external_ids = dict(run.external_ids)
    if pending:
        external_ids.pop("approved_by", None)
    by = {"user": user.get_username()}
    with transaction.atomic():
        updated = ActionRun.objects.filter(pk=run.pk, status=ActionRun.Status.FAILED).update(
            status=ActionRun.Status.PENDING_APPROVAL if pending else ActionRun.Status.RUNNING,
            message=(_("Relancée par %(user)s ; en attente d'un second approbateur.") if pending
                     else _("Relancée par %(user)s ; en cours…")) % by,
            error="", finished_at=None, started_at=None, heartbeat_at=None, attempts=0,
            queued_at=None if pending else timezone.now(), external_ids=external_ids,
        )
        if updated and not pending:
            _enqueue_on_commit(run.pk)
    run.refresh_from_db()
    transaction.on_commit(lambda: action_run_changed.send(sender=ActionRun, run=run))
    return run


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
