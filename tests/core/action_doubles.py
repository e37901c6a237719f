"""Contextual actions that exist in tests only, on hub Company records, and users with given capabilities."""

import pytest
from django.contrib.auth.models import Group, User

from apps.core import actions
from apps.core.capabilities import CAPABILITY_GROUPS
from apps.core.models import ActionRun, Connection
from apps.core.signals import action_run_changed
from apps.hub.models import Company

PROVIDER = "kerneluiaction"


class SendGreeting(actions.Action):
    """Runs on click."""

    key = "kerneluitest.greet"
    label = "Envoyer un bonjour"
    model = Company
    provider = PROVIDER
    permission = "core.send_emails"
    calls: list[int] = []

    def applies_to(self, obj):
        return obj.is_client

    def run(self, obj, run):
        type(self).calls.append(obj.pk)
        return actions.ActionOutcome(f"Bonjour envoyé à {obj.name}", {"message_id": f"M-{obj.pk}"})


class PaySupplier(actions.Action):
    """Confirms first; above 1000 EUR (here: a name starting with "Gros") needs a second approver."""

    key = "kerneluitest.pay"
    label = "Payer le fournisseur"
    model = Company
    provider = PROVIDER
    permission = "core.pay_suppliers"
    confirm = "Le virement part immédiatement."
    approval_permission = "core.approve_payments"
    calls: list[int] = []

    def confirmation_details(self, obj):
        return [("Bénéficiaire", obj.name), ("IBAN", obj.iban or "—")]

    def needs_approval(self, obj, user):
        return obj.name.startswith("Gros")

    def run(self, obj, run):
        type(self).calls.append(obj.pk)
        if obj.name.endswith("refusé"):
            raise actions.ActionFailed("Virement refusé par la banque.")
        return actions.ActionOutcome("Virement créé", {"transfer_id": f"T-{obj.pk}"})


@pytest.fixture
def registered_actions(db):
    saved = dict(actions._registry)
    actions.register(SendGreeting)
    actions.register(PaySupplier)
    SendGreeting.calls, PaySupplier.calls = [], []
    Connection.objects.create(provider=PROVIDER, name="Actions (test)", slug="actions-test")
    yield
    actions._registry.clear()
    actions._registry.update(saved)


def make_user(username, *capabilities, is_staff=True, is_active=True):
    """A user holding capabilities as people do: through their groups (capability + the models it needs)."""
    user = User.objects.create_user(username, is_staff=is_staff, is_active=is_active)
    for capability in capabilities:
        user.groups.add(Group.objects.get(name=CAPABILITY_GROUPS[capability]))
    return User.objects.get(pk=user.pk)  # fresh permission cache


@pytest.fixture
def client_company(db):
    return Company.objects.create(name="Atelier Dupont", is_client=True, iban="FR7630006000011234567890189")


class Recorder:
    """What the open pages are told: (run id, status) for each action_run_changed."""

    def __init__(self):
        self.runs = []

    def __call__(self, sender, run, **kwargs):
        self.runs.append((run.pk, run.status))


@pytest.fixture
def announced():
    recorder = Recorder()
    action_run_changed.connect(recorder, sender=ActionRun)
    yield recorder.runs
    action_run_changed.disconnect(recorder, sender=ActionRun)
