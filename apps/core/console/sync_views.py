""""Synchroniser maintenant": queue a SyncRun (never run it in the request) and follow it live."""

from django.contrib import messages
from django.http import HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRedirect

from apps.core import providers, sync
from apps.core.console import presenters
from apps.core.console.access import refuse, staff_required
from apps.core.models import Connection, SyncRun

TRUE_VALUES = {"1", "true", "on", "yes", "oui"}


@require_POST
@staff_required("core.manage_connections")
def start(request):
    try:
        connection = Connection.objects.get(pk=int(request.POST.get("connection", "")))
    except (ValueError, Connection.DoesNotExist):
        return refuse(request, _("Connexion introuvable."), status=404)
    resource = request.POST.get("resource", "").strip()
    kind = SyncRun.Kind.FULL if request.POST.get("full", "").lower() in TRUE_VALUES else SyncRun.Kind.INCREMENTAL
    try:
        run, created = sync.start_sync(connection, resource, kind=kind, user=request.user)
    except providers.UnknownProvider:
        return refuse(request, _("Aucun module n'est installé pour le système « %(provider)s ».")
                      % {"provider": connection.provider}, status=400)
    except KeyError:
        return refuse(request, _("Ressource « %(resource)s » inconnue pour cette connexion.")
                      % {"resource": resource}, status=400)
    url = reverse("core:sync_progress", args=[run.pk])
    if created:
        messages.success(request, _("Synchronisation lancée."))
    else:
        messages.warning(request, format_html(
            '{} <a href="{}">{}</a>', _("Synchronisation déjà en cours."), url,
            _("Voir la synchronisation n° %(pk)s") % {"pk": run.pk},
        ))
    if request.htmx:
        return HttpResponseClientRedirect(url)
    return HttpResponseRedirect(url)


def _run_or_none(run_id):
    return SyncRun.objects.select_related("connection").filter(pk=run_id).first()


@require_GET
@staff_required("core.view_console")
def progress(request, run_id):
    run = _run_or_none(run_id)
    if run is None:
        return refuse(request, _("Synchronisation introuvable."), status=404)
    context = presenters.sync_progress_context(run)
    context.update(
        live_group=f"sync.{run.pk}",
        title=_("Synchronisation n° %(pk)s") % {"pk": run.pk},
    )
    return render(request, "core/sync/page.html", context)


@require_GET
@staff_required("core.view_console")
def progress_fragment(request, run_id):
    run = _run_or_none(run_id)
    if run is None:
        return refuse(request, _("Synchronisation introuvable."), status=404)
    return render(request, "core/sync/progress.html", presenters.sync_progress_context(run))
