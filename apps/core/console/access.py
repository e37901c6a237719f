"""Who may use the console's own views, and the readable French refusal they answer with.

LoginRequiredMiddleware already sends anonymous users to the login page; these views also require an
active staff user (and, where given, a permission). A refusal is a small HTML fragment (or a shell page
when the request is not HTMX), never a traceback; the X-Console-Error header lets htmx swap it in.
"""

from functools import wraps

from django.shortcuts import render
from django.utils.translation import gettext as _

ERROR_HEADER = "X-Console-Error"


def refuse(request, message, status=403):
    template = "core/actions/error.html" if request.htmx else "core/actions/error_page.html"
    response = render(request, template, {"message": message}, status=status)
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
