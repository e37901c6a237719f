"""A URLconf for the Sentry tests: a view failing with secrets in its exception, its body and its headers."""

from django.contrib.auth.decorators import login_not_required
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

SECRET_IN_MESSAGE = "tok_live_sentry_0a1b2c3d4e5f"


@login_not_required
@csrf_exempt
def explode(request, key):
    # A value that exists only at run time (not in the source lines Sentry shows around the frame).
    password = "-".join(["local", "variable", "secret", "99"])  # noqa: F841 - Sentry must not collect it
    raise RuntimeError(f"refus du jeton Bearer {SECRET_IN_MESSAGE}")


urlpatterns = [path("explode/<str:key>/", explode)]
