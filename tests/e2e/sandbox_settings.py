"""Settings of the web process during the journeys, which serves the vendor emulators too (not the worker's).

The Revolut emulator completes a pending payment by itself after REVOLUT_SANDBOX_COMPLETION_SECONDS (15 s
by default). A journey that completes it by hand ("Compléter") would race that timer on a loaded machine;
here only the person at the bank moves payments along.
"""

from config.settings import *  # noqa: F403

REVOLUT_SANDBOX_COMPLETION_SECONDS = None

# The journeys' users are created by the test process, which hashes passwords fast (tests/conftest.py).
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
