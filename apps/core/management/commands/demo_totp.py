"""`manage.py demo_totp <user>`: the code a demo user's authenticator would show now (make run's second factor).

Refused unless SANDBOX is on, like `demo`. A code already used (TOTP accepts each 30-second step once)
is followed by the next one and the seconds until it is accepted.
"""

import time

from django.conf import settings
from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError
from django_otp.oath import TOTP

from apps.core import second_factor


class Command(BaseCommand):
    help = "Affiche le code TOTP du moment d'un utilisateur de démonstration (SANDBOX uniquement)."

    def add_arguments(self, parser):
        parser.add_argument("username")

    def handle(self, *args, username, **options):
        if not settings.SANDBOX:
            raise CommandError("demo_totp exige SANDBOX=1 (démonstration uniquement).")
        user = User.objects.filter(username=username).first()
        device = second_factor.totp_device(user) if user else None
        if device is None:
            raise CommandError(f"Aucun appareil TOTP confirmé pour « {username} ».")
        now = time.time()
        current = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
        current.time = now
        if current.t() > device.last_t:
            self.stdout.write(f"{current.token():0{device.digits}d}")
            return
        upcoming = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
        upcoming.time = now + device.step
        wait = int(device.step - (now - device.t0) % device.step) + 1
        self.stdout.write(f"{upcoming.token():0{device.digits}d}")
        self.stderr.write(f"Le code du moment a déjà servi : celui-ci est accepté dans {wait} s.")
