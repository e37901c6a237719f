"""Who may use the console's own views, and the readable French refusal they answer with.

LoginRequiredMiddleware already sends anonymous users to the login page; these views also require an
active staff user (and, where given, a permission). A refusal is a small HTML fragment (or a shell page
when the request is not HTMX), never a traceback; the X-Console-Error header lets htmx swap it in.
"""

from functools import wraps

from django.contrib.contenttypes.models import ContentType

from django.shortcuts import render
from django.utils.translation import gettext as _

ERROR_HEADER = "X-Console-Error"


def may_view_record(user, model) -> bool:
    """Whether `user` may see records of `model`: its page, action fragments, runs and live socket.

    The one rule, used by the admin change form (ContextualActionsAdmin.has_view_permission), the action
    views and the `actions.<content type>.<pk>` socket: an active staff user holding the model's view or
    change permission (Django's own rule for the admin change form).
    """
    if model is None or user is None or not (user.is_authenticated and user.is_active and user.is_staff):
        return False
    opts = model._meta.concrete_model._meta
    return user.has_perm(f"{opts.app_label}.view_{opts.model_name}") or user.has_perm(
        f"{opts.app_label}.change_{opts.model_name}"
    )


def may_view_records_of_type(user, content_type_id) -> bool:
    try:
        model = ContentType.objects.get_for_id(int(content_type_id)).model_class()
    except (ContentType.DoesNotExist, TypeError, ValueError):
        return False
    return may_view_record(user, model)


def refuse(request, message, status=403):
    template = "core/actions/error.html" if request.htmx else "core/actions/error_page.html"
    title = {403: _("Accès refusé"), 404: _("Page introuvable")}.get(status, _("Demande impossible"))
    response = render(request, template, {"message": message, "title": title}, status=status)
    response[ERROR_HEADER] = "1"
    return response


def staff_required(permission: str | None = None):
    def decorator(view):
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            user = request.user
            if not (user.is_authenticated and user.is_active and user.is_staff):
                return refuse(request, _("Accès réservé à l'équipe."))
            if permission and not user.has_perm(permission):
                return refuse(request, _("Vous n'avez pas la permission requise."))
            return view(request, *args, **kwargs)

        return wrapper

    return decorator
