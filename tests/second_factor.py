"""Tests' side of the second factor: a TOTP device for a user, its current code, a verified session.

`client.force_login` (tests/conftest.py) also passes the second factor for users who need one, as it
skips the password; tests of the second factor itself log in with `client.post` to the login page.
"""

from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from apps.core.second_factor import needs_second_factor


def device_for(user) -> TOTPDevice:
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    return device or TOTPDevice.objects.create(user=user, name="Test", confirmed=True)


def code_for(user, steps_ahead: int = 0) -> str:
    """The code the user's authenticator shows now (or `steps_ahead` periods of 30 s later)."""
    device = device_for(user)
    value = totp(device.bin_key, device.step, device.t0, device.digits, device.drift + steps_ahead)
    return f"{value:0{device.digits}d}"


def pass_second_factor(client, user) -> None:
    if not needs_second_factor(user):
        return
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device_for(user).persistent_id
    session.save()
