"""A second factor for the people who move money, and a fresh code before a large payment is approved.

Who: whoever holds the payment (`core.pay_suppliers`) or approval (`core.approve_payments`) capability,
superusers included. What: a TOTP device (django-otp; any authenticator application). When:

1. After the password (admin login, throttled by django-axes), `SecondFactorMiddleware` sends such a user
   to /console/second-factor/ before any other page; without a confirmed device, to the enrolment page
   (QR code and the secret as text). django-otp's OTPMiddleware marks the session verified afterwards.
2. Live sockets: `session_is_verified` applies the same rule from the socket's session.
3. Approving a run held for approval (a payment above the threshold) asks for a fresh code again
   (`fresh_code_matches`): a code already used, e.g. the one of the login, is refused.
"""

from __future__ import annotations

from base64 import b32encode
from binascii import unhexlify
from urllib.parse import urlencode

from django.http import HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.models import Device
from django_otp.plugins.otp_totp.models import TOTPDevice

MONEY_PERMISSIONS = ("core.pay_suppliers", "core.approve_payments")


def needs_second_factor(user) -> bool:
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    return any(user.has_perm(permission) for permission in MONEY_PERMISSIONS)


def totp_device(user, *, confirmed=True) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=confirmed).order_by("pk").first()


def base32_secret(device: TOTPDevice) -> str:
    """The secret as authenticator applications and `oathtool -b` take it."""
    return b32encode(unhexlify(device.key)).decode().rstrip("=")


def session_is_verified(user, session) -> bool:
    """Whether this session passed the second factor (the socket's check; pages use request.user.is_verified)."""
    persistent_id = session.get(DEVICE_ID_SESSION_KEY) if session is not None else None
    if not persistent_id:
        return False
    device = Device.from_persistent_id(persistent_id)
    return device is not None and device.user_id == user.pk and device.confirmed


def may_proceed(user, session) -> bool:
    """The whole login: a user who needs a second factor has passed it in this session."""
    return not needs_second_factor(user) or session_is_verified(user, session)


def fresh_code_matches(user, code: str) -> bool:
    """A code from the user's device not used before (TOTP refuses a time step already used)."""
    code = (code or "").strip().replace(" ", "")
    if not code.isdigit():
        return False
    device = totp_device(user)
    return device is not None and device.verify_token(code)


class SecondFactorMiddleware:
    """Send a user who needs a second factor to enter (or enrol) it before anything else.

    Placed after django-otp's OTPMiddleware and LoginRequiredMiddleware. Open without it: the second-factor
    pages themselves, logout, the login page, the language switch and static files.
    """

    OPEN_URL_NAMES = ("core:second_factor", "core:second_factor_enrol", "admin:logout", "admin:login", "set_language")

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and needs_second_factor(user) and not user.is_verified() and not self._open(request):
            return self._send_to_second_factor(request)
        return self.get_response(request)

    def _open(self, request) -> bool:
        from django.conf import settings

        path = request.path_info
        if path.startswith("/" + settings.STATIC_URL.lstrip("/")):
            return True
        return path in {reverse(name) for name in self.OPEN_URL_NAMES}

    def _send_to_second_factor(self, request):
        target = reverse("core:second_factor") + "?" + urlencode({"next": request.get_full_path()})
        if request.headers.get("HX-Request"):
            # htmx would swap a followed 302 into the page; HX-Redirect makes it load the page instead.
            return HttpResponse(status=204, headers={"HX-Redirect": target})
        return HttpResponseRedirect(target)
