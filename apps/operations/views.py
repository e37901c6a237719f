"""The "Exploitation" page: the /metrics figures for people, coloured against the alert thresholds.

Reserved to the operations capability (`core.operate_queues`, superusers hold every permission). Each row
says its level: "ok", "warning" (getting close) or "error" (the alert fires). Failed RQ jobs and failed
webhook events are listed with a "Relancer" button: a POST (CSRF) that requeues the job from RQ's failed
registry or replays the event through the inbox's own `replay`; a second click finds nothing left to do
and says so.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST
from redis.exceptions import RedisError
from rq import Queue
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.registry import FailedJobRegistry

from apps.core import jobs
from apps.core.console.access import refuse, staff_required
from apps.core.models import WebhookEvent
from apps.core.webhooks.processing import replay
from apps.operations import figures, thresholds

PERMISSION = "core.operate_queues"
OK, WARNING, ERROR = "ok", "warning", "error"


def level(value, *, error_above=None, warning_above=None, error_below=None) -> str:
    if error_above is not None and value > error_above:
        return ERROR
    if error_below is not None and value < error_below:
        return ERROR
    if warning_above is not None and value > warning_above:
        return WARNING
    return OK


def duration(seconds) -> str:
    """"3 min 20 s", "2 h 05 min", "4 j 3 h": short, for tables."""
    if seconds is None:
        return "—"
    seconds = int(seconds)
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    if seconds < 60:
        return f"{sign}{seconds} s"
    if seconds < 3600:
        return f"{sign}{seconds // 60} min {seconds % 60:02d} s"
    if seconds < 86400:
        return f"{sign}{seconds // 3600} h {seconds % 3600 // 60:02d} min"
    return f"{sign}{seconds // 86400} j {seconds % 86400 // 3600} h"


def redis_context(now) -> dict:
    """Queues, workers, scheduler, responses and failed jobs; `redis_down` when Redis does not answer."""
    try:
        queues = figures.queues()
        workers = figures.workers_alive()
        lease = figures.scheduler_lease()
        responses = figures.http_responses()
        failed_jobs = figures.failed_jobs()
    except RedisError:
        return {"redis_down": True}
    answered = sum(responses.values())
    server_errors = responses.get("5xx", 0)
    ratio = server_errors / answered if answered else 0
    return {
        "redis_down": False,
        "queues": [{
            "name": queue.name, "depth": queue.depth, "failed": queue.failed,
            "oldest": duration(queue.oldest_age_seconds(now)) if queue.oldest_enqueued_at else "—",
            "level": level(queue.oldest_age_seconds(now), error_above=thresholds.QUEUE_GROWTH_MINUTES * 60,
                           warning_above=thresholds.OLDEST_WAITING_WEBHOOK_SECONDS),
            "failed_level": WARNING if queue.failed else OK,
        } for queue in queues],
        "workers": {"count": workers, "level": level(workers, error_below=thresholds.MIN_WORKERS_ALIVE)},
        "scheduler": {"held": lease.held, "level": OK if lease.held else ERROR},
        "responses": {"answered": answered, "server_errors": server_errors, "percent": f"{ratio:.2%}",
                      "level": level(ratio, error_above=thresholds.SERVER_ERROR_RATIO)},
        "failed_jobs": failed_jobs,
    }


def connection_rows(now) -> list[dict]:
    rows = []
    for health in figures.connection_health(now):
        refresh_level = OK
        if health.reconnect_required:
            refresh_level = ERROR
        elif health.refresh_token_expires_in is not None:
            refresh_level = ERROR if health.refresh_token_expires_in < thresholds.REFRESH_TOKEN_WARNING_SECONDS else OK
        rows.append({
            "name": health.name, "provider": health.provider,
            "circuit": _("Ouvert : appels suspendus") if health.circuit_open else _("Fermé"),
            "circuit_level": ERROR if health.circuit_open else (WARNING if health.consecutive_failures else OK),
            "failures": health.consecutive_failures,
            "uses_oauth": health.uses_oauth,
            "token": duration(health.token_expires_in) if health.uses_oauth else "—",
            "refresh": (_("Refusé : reconnexion requise") if health.reconnect_required
                        else duration(health.refresh_token_expires_in) if health.uses_oauth else "—"),
            "refresh_level": refresh_level,
            "samples": [(sample.documentation, int(sample.value)) for sample in health.samples],
        })
    return rows


def sync_rows(now) -> list[dict]:
    rows = []
    for row in figures.sync_freshness():
        age = row.age_seconds(now)
        state = OK
        if row.period_seconds:
            state = level(age, error_above=thresholds.SYNC_STALE_PERIODS * row.period_seconds,
                          warning_above=row.period_seconds * 1.5)
        rows.append({"connection": row.connection, "provider": row.provider, "resource": row.resource,
                     "last": row.last_success_at, "age": duration(age),
                     "period": duration(row.period_seconds) if row.period_seconds else _("à la demande"),
                     "level": state})
    return rows


def dashboard_context() -> dict:
    now = timezone.now()
    waiting = figures.waiting_events()
    latency = figures.inbox_latency(now)
    runs = figures.action_runs_by_status()
    context = {
        "title": _("Exploitation"),
        "now": now,
        "window_minutes": figures.WINDOW.seconds // 60,
        "waiting": {"count": waiting.count, "oldest": duration(waiting.oldest_age_seconds(now)),
                    "level": level(waiting.oldest_age_seconds(now),
                                   error_above=thresholds.OLDEST_WAITING_WEBHOOK_SECONDS,
                                   warning_above=thresholds.OLDEST_WAITING_WEBHOOK_SECONDS / 4)},
        "latency": {"count": latency.count,
                    "average": f"{latency.sum_seconds / latency.count:.1f} s" if latency.count else "—"},
        "runs": {"failed": runs["failed"], "pending": runs["pending_approval"],
                 "level": WARNING if runs["failed"] else OK},
        "syncs": sync_rows(now),
        "connections": connection_rows(now),
        "calls": [{"connection": row.connection, "status_class": row.status_class, "count": row.count,
                   "average": f"{row.duration_seconds_sum / row.count:.2f} s",
                   "longest": f"{row.duration_seconds_max:.2f} s",
                   "level": ERROR if row.status_class in ("5xx", "error") else
                   (WARNING if row.status_class == "4xx" else OK)}
                  for row in figures.vendor_calls(now)],
        "failed_events": figures.failed_events(),
        "thresholds": thresholds,
    }
    context.update(redis_context(now))
    return context


@require_GET
@staff_required(PERMISSION)
def dashboard(request):
    return render(request, "operations/dashboard.html", dashboard_context())


def back_to_dashboard():
    return HttpResponseRedirect(reverse("operations:dashboard"))


@require_POST
@staff_required(PERMISSION)
def requeue_job(request, queue, job_id):
    if queue not in jobs.QUEUES:
        return refuse(request, _("File inconnue."), status=404)
    try:
        registry = FailedJobRegistry(queue=Queue(queue, connection=figures.redis_connection()))
        if job_id not in registry.get_job_ids():
            messages.warning(request, _("Cette tâche n'est plus en échec (déjà relancée ou supprimée)."))
            return back_to_dashboard()
        registry.requeue(job_id)
    except (NoSuchJobError, InvalidJobOperation):
        messages.warning(request, _("Cette tâche n'est plus en échec (déjà relancée ou supprimée)."))
        return back_to_dashboard()
    except RedisError:
        return refuse(request, _("Redis ne répond pas : réessayez dans un instant."), status=503)
    messages.success(request, _("Tâche remise dans la file « %(queue)s ».") % {"queue": queue})
    return back_to_dashboard()


@require_POST
@staff_required(PERMISSION)
def replay_event(request, event_id):
    events = WebhookEvent.objects.filter(pk=event_id, status=WebhookEvent.Status.FAILED)
    if replay(events):
        messages.success(request, _("Webhook n° %(pk)s remis en file.") % {"pk": event_id})
    else:
        messages.warning(request, _("Ce webhook n'est plus en échec (déjà relancé ou introuvable)."))
    return back_to_dashboard()
