"""Running a rule's steps for one subject, exactly once, whatever crashes or replays in between.

Order of work for `advance(chain_id)` (a job; the periodic `resume_due` re-drives every chain left running or
waiting, so a worker killed mid-chain is picked up where it stopped):
1. hold the chain's lease in Redis (two workers never drive one chain); a rule switched off pauses it;
2. for each step, in order: skip it when its `done` check says so (done by hand, by an earlier attempt); take
   over a run left `running` by a dead worker (actions are resumable from their saved external ids); or start
   a new ActionRun keyed `auto:<chain>:<step>:<attempt>`, so the same attempt is never started twice;
3. a failed step waits with an exponential backoff (the chain says what it waits for) and is tried again up to
   MAX_ATTEMPTS times, then the chain fails for good and shows on the console home with "Relancer".
A chain is created once per (rule, subject): a replayed webhook finds it and changes nothing. A cause arriving
while its rule is switched off leaves a chain "ignorée" (`skip`) that runs nothing until a user asks (`run_now`)
once the rule is on again: switching a rule back on never replays, unasked, what happened meanwhile.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop
from redis.exceptions import LockError

from apps.automations.models import Chain
from apps.automations.rules import RULES, is_enabled
from apps.core import actions, jobs, redis_clients
from apps.core.models import ActionRun, TimelineEntry

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 6
BASE_DELAY = timedelta(seconds=30)
MAX_DELAY = timedelta(hours=1)
LEASE_SECONDS = 900
AUTOMATIC = TimelineEntry.AUTOMATIC  # the timeline says "Automatique" with the cause


def backoff(attempts: int) -> timedelta:
    return min(BASE_DELAY * (2 ** max(attempts - 1, 0)), MAX_DELAY)


def note(obj, message: str, chain: Chain, level=TimelineEntry.Level.INFO, *, params=None):
    """With `params`, `message` is a catalogue source (gettext_noop) read in each reader's language."""
    TimelineEntry.record(obj, message, params=params, provider=AUTOMATIC, level=level,
                         webhook_event=chain.cause_event, external_ids={"cause": chain.cause})


def start(rule_key: str, subject, *, cause: str, cause_event=None, context=None,
          status=Chain.Status.RUNNING) -> tuple[Chain, bool]:
    """The chain of `rule_key` for `subject`, created once and driven after commit; (chain, created)."""
    content_type = ContentType.objects.get_for_model(subject)
    existing = Chain.objects.filter(rule=rule_key, content_type=content_type, object_id=str(subject.pk)).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            chain = Chain.objects.create(rule=rule_key, content_type=content_type, object_id=str(subject.pk),
                                         cause=cause[:300], cause_event=cause_event, context=context or {},
                                         status=status)
    except IntegrityError:
        return Chain.objects.get(rule=rule_key, content_type=content_type, object_id=str(subject.pk)), False
    if status != Chain.Status.SKIPPED:
        note(subject, gettext_noop("Automatisation « %(rule)s » déclenchée par : %(cause)s"), chain,
             params={"rule": RULES[rule_key].label, "cause": cause})
    if status == Chain.Status.RUNNING:
        jobs.enqueue_on_commit(advance, chain.pk, queue="default")
    return chain, True


def skip(rule_key: str, subject, *, cause: str, cause_event=None) -> tuple[Chain, bool]:
    """The rule is off: the cause is kept, listed as ignored, and nothing runs."""
    chain, created = start(rule_key, subject, cause=cause, cause_event=cause_event, status=Chain.Status.SKIPPED)
    if created:
        note(subject, _("Automatisation « %(rule)s » désactivée : rien n'a été fait. Une fois réactivée, « Exécuter "
                        "maintenant » sur la page Automatisations la lance.") % {"rule": RULES[rule_key].label},
             chain, TimelineEntry.Level.WARNING)
    return chain, created


def run_now(chain: Chain, user) -> str | None:
    """"Exécuter maintenant" on a chain ignored while its rule was off: None when started, else why not (French)."""
    rule = RULES.get(chain.rule)
    if rule is None or not rule.steps:
        return _("Cette automatisation n'a aucune étape à exécuter.")
    if not is_enabled(rule.key):
        return _("Activez d'abord l'automatisation « %(rule)s ».") % {"rule": rule.label}
    with transaction.atomic():
        updated = Chain.objects.filter(pk=chain.pk, status=Chain.Status.SKIPPED).update(
            status=Chain.Status.RUNNING, waiting_for="", next_attempt_at=None, attempts=0)
        if not updated:
            return _("Cette automatisation n'est plus en attente d'exécution.")
        chain.refresh_from_db()
        note(chain.subject, _("Automatisation « %(rule)s » lancée à la demande par %(user)s (cause arrivée pendant "
                              "sa désactivation).") % {"rule": rule.label, "user": user.get_username()}, chain)
        jobs.enqueue_on_commit(advance, chain.pk, queue="default")
    return None


def advance(chain_id: int) -> None:
    lease = redis_clients.for_queue("default").lock(f"console:automation-chain:{chain_id}",
                                                    timeout=LEASE_SECONDS, blocking=False)
    if not lease.acquire():
        return
    try:
        _advance(Chain.objects.get(pk=chain_id))
    finally:
        try:
            lease.release()
        except LockError:
            pass


def _wait(chain: Chain, waiting_for: str, *, error: str = "", count_attempt=True) -> None:
    chain.status = Chain.Status.WAITING
    chain.waiting_for = waiting_for[:500]
    if count_attempt:
        chain.attempts += 1
        chain.last_error = (error or waiting_for)[:500]
        if chain.attempts >= MAX_ATTEMPTS:
            chain.status = Chain.Status.FAILED
            chain.waiting_for = ""
            chain.next_attempt_at = None
            chain.save()
            note(chain.subject, gettext_noop("Automatisation en échec définitif à l'étape « %(step)s » : %(error)s"),
                 chain, TimelineEntry.Level.ERROR, params={"step": chain.step, "error": chain.last_error})
            return
    chain.next_attempt_at = timezone.now() + backoff(max(chain.attempts, 1))
    chain.save()


def _advance(chain: Chain) -> None:
    if chain.status in (Chain.Status.SUCCEEDED, Chain.Status.FAILED, Chain.Status.SKIPPED):
        return
    if chain.status == Chain.Status.WAITING and chain.next_attempt_at and chain.next_attempt_at > timezone.now():
        return  # backing off: the periodic job comes back for it
    rule = RULES[chain.rule]
    if not is_enabled(rule.key):
        _wait(chain, _("automatisation désactivée"), count_attempt=False)
        return
    for step in rule.steps:
        target = step.target(chain)
        outputs = step.done(chain, target)
        if outputs is not None:
            chain.context.update(outputs)
            continue
        runs = _attempt_runs(chain, step)
        if runs and runs[-1].status == ActionRun.Status.SUCCEEDED:
            chain.context.update({k: v for k, v in runs[-1].external_ids.items() if k == "invoice_pk"})
            continue
        if chain.step != step.key:
            chain.step, chain.attempts = step.key, 0
        chain.status, chain.waiting_for = Chain.Status.RUNNING, ""
        chain.save()
        run = _run_step(chain, step, target)
        if run is None:
            return  # waiting (recorded by _run_step)
        if run.status != ActionRun.Status.SUCCEEDED:
            _wait(chain, _("%(step)s : %(error)s") % {"step": step.label, "error": run.message}, error=run.message)
            return
        outputs = step.done(chain, step.target(chain)) or {}
        chain.context.update({**outputs, **{k: v for k, v in run.external_ids.items() if k == "invoice_pk"}})
        chain.attempts = 0
        chain.save()
    chain.status, chain.step, chain.waiting_for, chain.next_attempt_at = Chain.Status.SUCCEEDED, "", "", None
    chain.save()


def _attempt_runs(chain: Chain, step) -> list[ActionRun]:
    return list(ActionRun.objects.filter(idempotency_key__startswith=f"auto:{chain.pk}:{step.key}:").order_by("pk"))


def _run_step(chain: Chain, step, target) -> ActionRun | None:
    runs = _attempt_runs(chain, step)
    last = runs[-1] if runs else None
    if last is not None and last.status == ActionRun.Status.SUCCEEDED:
        return last
    if last is not None and last.status == ActionRun.Status.RUNNING:
        actions.execute(last.pk)  # a worker died during this run: the action resumes from its saved ids
        last.refresh_from_db()
        return last
    action = actions.get(step.action)
    connection = action.connection()
    if connection is None or not connection.is_healthy:
        _wait(chain, _("%(step)s : en attente de %(system)s (connexion indisponible)") % {
            "step": step.label, "system": action.provider}, count_attempt=False)
        return None
    if not action.applies_to(target):
        # E.g. a signed quote that was never sent through Invoice Ninja: said, retried, then "Relancer" once fixed.
        _wait(chain, _("%(step)s : action non applicable au dossier %(record)s dans son état actuel (%(state)s)") % {
            "step": step.label, "record": target, "state": target.get_status_display()})
        return None
    carried = dict(last.external_ids) if last is not None else {}
    try:
        with transaction.atomic():
            run = ActionRun.objects.create(
                action=action.key, label=_("Automatique — %(label)s") % {"label": action.label},
                content_type=ContentType.objects.get_for_model(target), object_id=str(target.pk), user=None,
                idempotency_key=f"auto:{chain.pk}:{step.key}:{len(runs) + 1}", status=ActionRun.Status.RUNNING,
                message=_("En cours…"),
                external_ids={**carried, "cause": chain.cause, "cause_event": chain.cause_event_id},
            )
    except IntegrityError:  # another driver started this very attempt
        run = ActionRun.objects.get(idempotency_key=f"auto:{chain.pk}:{step.key}:{len(runs) + 1}")
    actions.execute(run.pk)
    run.refresh_from_db()
    return run


def resume_due() -> int:
    """Periodic: re-drive chains waiting past their next attempt, and running ones a dead worker left behind."""
    now = timezone.now()
    stale = now - timedelta(seconds=60)
    due = Chain.objects.filter(status=Chain.Status.WAITING, next_attempt_at__lte=now) | Chain.objects.filter(
        status=Chain.Status.RUNNING, updated_at__lte=stale)
    ids = list(due.values_list("pk", flat=True)[:200])
    for chain_id in ids:
        jobs.enqueue_now(advance, chain_id, queue="default")
    return len(ids)


def relaunch(chain: Chain, user) -> None:
    """"Relancer": a chain failed for good gets its attempts back and is driven at once."""
    with transaction.atomic():
        updated = Chain.objects.filter(pk=chain.pk, status=Chain.Status.FAILED).update(
            status=Chain.Status.WAITING, attempts=0, next_attempt_at=timezone.now(),
            waiting_for=_("relancée par %(user)s") % {"user": user.get_username()})
        if updated:
            jobs.enqueue_on_commit(advance, chain.pk, queue="default")
