"""`manage.py rqworker` with the recovery tests' doubles registered; run as a script by recovery_processes.py.

The doubles must exist in the worker's process, not only in the test's: the base64-signed double provider
(its usual handler records one timeline row per run) with one more event type whose handler sleeps on its
first attempt, so that a test can kill the worker mid-job; and the kernel's test actions, with one more
that is slow on its first attempt.
"""

import json
import os
import sys
import time
from pathlib import Path

SLOW_EVENT = "slow.created"


def slow_on_first_attempt(event):
    """Sleeps `sleep` seconds the first time only: the worker that runs it first is the one a test kills."""
    from tests.core.webhook_doubles import record_effect

    if event.attempts == 1:
        time.sleep(float(json.loads(bytes(event.body)).get("sleep", 0)))
    record_effect(event)


def slow_greeting_class():
    from tests.core.action_doubles import SendGreeting

    class SlowGreeting(SendGreeting):
        """SendGreeting that takes `SLOW_ACTION_SECONDS` the first time a worker runs it."""

        key = "kerneluitest.slow_greet"
        label = "Envoyer un bonjour lent"

        def run(self, obj, run):
            if run.attempts == 1:
                time.sleep(SLOW_ACTION_SECONDS)
            return super().run(obj, run)

    return SlowGreeting


SLOW_ACTION_SECONDS = 300


def main(arguments):
    base_dir = Path(__file__).resolve().parents[2]
    sys.path.insert(0, str(base_dir))
    os.chdir(base_dir)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.core.management import execute_from_command_line

    from apps.core import actions, providers
    from tests.core.action_doubles import PaySupplier, SendGreeting
    from tests.core.webhook_doubles import HANDLED_TYPE, Base64BodyScheme, record_effect

    providers.register(Base64BodyScheme().provider({HANDLED_TYPE: record_effect, SLOW_EVENT: slow_on_first_attempt}))
    actions.register(SendGreeting)
    actions.register(PaySupplier)
    actions.register(slow_greeting_class())
    execute_from_command_line(["manage.py", "rqworker", *arguments])


if __name__ == "__main__":
    main(sys.argv[1:])
