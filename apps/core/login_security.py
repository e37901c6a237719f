"""Failed logins are throttled per user and address (django-axes); the lockout answers on the login page, in French.

Settings (config/settings.py): AXES_FAILURE_LIMIT failures for one username from one address lock that
pair for AXES_COOLOFF_TIME; a successful login resets the count. Admins see the attempts and lockouts in
the admin (Axes › Access attempts) and unlock there or with `manage.py axes_reset_username <name>`.
"""

from django.conf import settings
from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.shortcuts import render
from django.utils.translation import gettext as _


def cooloff_minutes() -> int:
    return max(1, int(settings.AXES_COOLOFF_TIME.total_seconds() // 60))


def lockout_response(request, original_response=None, credentials=None):
    """The admin login page again, with the reason and no way around it but waiting or an admin (HTTP 429)."""
    message = _(
        "Trop de tentatives de connexion échouées pour ce compte depuis cette adresse : la connexion est bloquée "
        "pendant %(minutes)d minutes. Réessayez plus tard ou demandez à un administrateur de la débloquer."
    ) % {"minutes": cooloff_minutes()}
    context = {
        **admin.site.each_context(request),
        "title": _("Connexion bloquée"),
        "lockout_message": message,
        "form": AdminAuthenticationForm(request),
        "app_path": request.get_full_path(),
        "username": "",
    }
    return render(request, "core/login_locked.html", context, status=429)
