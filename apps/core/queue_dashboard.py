"""The django-rq dashboard, kept for superusers only, and without a 500 for an odd link.

The console's own "Exploitation" page (apps/operations) shows the queues and the failed jobs, in the
console's look and in French, with "Relancer": that is where operators (`core.operate_queues`) go, and
where every link leads, the admin's entry for django-rq included (`QueueDashboardAdmin` redirects there
and is not listed). django-rq's own pages (English, every job with its arguments, "empty queue") stay
reachable by their address, under /django-rq/, for superusers alone; anyone else is refused.

django-rq's views assume their arguments exist: an unknown queue index, job id or worker key, or the
schedulers page without rq-scheduler installed, raise inside the view (500). `found_or_404` checks those
arguments first and answers 404; the admin's Dashboard has no table, so only its list page is routed.
"""

from functools import wraps
from secrets import compare_digest

from django.contrib import admin
from django.http import Http404
from django.shortcuts import redirect
from django.urls import path
from django.utils.translation import gettext as _
from django_rq import views
from django_rq.admin import QueueAdmin
from django_rq.connection_utils import get_connection_by_index
from django_rq.models import Dashboard
from django_rq.queues import get_queue_by_index
from django_rq.settings import get_api_token, get_queues_list
from django_rq.urls import get_admin_urlpatterns, get_api_urlpatterns
from rq.job import Job
from rq.worker import Worker

from apps.core.console.access import refuse

PERMISSION = "core.operate_queues"

try:  # the schedulers page needs rq-scheduler, which the console does not use (it has its own scheduler)
    import rq_scheduler  # noqa: F401
except ImportError:
    HAS_RQ_SCHEDULER = False
else:
    HAS_RQ_SCHEDULER = True


def may_operate_queues(user) -> bool:
    return bool(user.is_authenticated and user.is_active and user.is_staff and user.has_perm(PERMISSION))


def may_open_django_rq(user) -> bool:
    return bool(user.is_authenticated and user.is_active and user.is_staff and user.is_superuser)


def found_or_404(view, kwargs) -> None:
    """Raise Http404 when an argument of a django-rq view names nothing (the view itself would 500)."""
    queues = get_queues_list()
    for name in ("queue_index", "scheduler_index"):
        if name in kwargs and not 0 <= int(kwargs[name]) < len(queues):
            raise Http404
    if "connection_index" in kwargs:
        try:
            get_connection_by_index(int(kwargs["connection_index"]))
        except (IndexError, KeyError, ValueError):
            raise Http404 from None
    if view is views.scheduler_jobs and not HAS_RQ_SCHEDULER:
        raise Http404
    if "job_id" in kwargs:
        queue = get_queue_by_index(kwargs["queue_index"])
        if not Job.exists(kwargs["job_id"], connection=queue.connection):
            raise Http404
    if view is views.worker_details:
        queue = get_queue_by_index(kwargs["queue_index"])
        try:
            worker = Worker.find_by_key(kwargs["key"], connection=queue.connection)
        except ValueError:  # not an "rq:worker:" key
            raise Http404 from None
        if worker is None:
            raise Http404


def for_superusers(view):
    """Wrap a django-rq view: superusers only, arguments checked before the view runs."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not may_open_django_rq(request.user):
            return refuse(request, _("Les pages techniques de django-rq sont réservées aux superutilisateurs : "
                                     "les files et les tâches en échec sont sur la page Exploitation."))
        found_or_404(view, kwargs)
        return view(request, *args, **kwargs)

    return wrapper


def token_or_superusers(view):
    """django-rq's JSON statistics: superusers, or a client holding django-rq's API token (RQ_API_TOKEN).

    django-rq itself lets any staff member in whatever the token: the token is compared here first.
    """

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        expected = get_api_token()
        offered = kwargs.get("token") or request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if expected and offered and compare_digest(expected, offered):
            return view(request, *args, **kwargs)
        return for_superusers(view)(request, *args, **kwargs)

    return wrapper


def _wrap_api(patterns):
    for pattern in patterns:
        pattern.callback = token_or_superusers(pattern.callback)
    return patterns


app_name = "django_rq"
urlpatterns = _wrap_api(get_api_urlpatterns()) + get_admin_urlpatterns(view_wrapper=for_superusers)


class QueueDashboardAdmin(QueueAdmin):
    """django-rq's admin entry: not listed; its page leads operators to the console's Exploitation page."""

    def has_module_permission(self, request):
        return False  # the admin index links to the Exploitation page instead

    def has_view_permission(self, request, obj=None):
        return may_operate_queues(request.user)

    def has_change_permission(self, request, obj=None):
        return may_operate_queues(request.user)

    def has_delete_permission(self, request, obj=None):
        return False

    def get_urls(self):
        def wrap(view):
            guarded = for_superusers(view)

            @wraps(view)
            def wrapper(request, *args, **kwargs):
                request.current_app = self.admin_site.name
                return self.admin_site.admin_view(guarded)(request, *args, **kwargs)

            return wrapper

        opts = self.model._meta
        changelist = path("", self.admin_site.admin_view(self.to_operations_page),
                          name=f"{opts.app_label}_{opts.model_name}_changelist")
        return (
            [changelist]  # before django-rq's own home, which has the same address
            + _wrap_api(get_api_urlpatterns(name_prefix="django_rq_"))
            + get_admin_urlpatterns(name_prefix="django_rq_", view_wrapper=wrap)
        )


    def to_operations_page(self, request):
        if not may_operate_queues(request.user):
            return refuse(request, _("Les files de tâches sont réservées à l'exploitation."))
        return redirect("operations:dashboard")


def register_admin(site=admin.site) -> None:
    if site.is_registered(Dashboard):
        site.unregister(Dashboard)
    site.register(Dashboard, QueueDashboardAdmin)
