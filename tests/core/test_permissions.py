import pytest
from django.contrib.auth.models import Group, Permission, User
from django.core.management import call_command

from apps.core.capabilities import CAPABILITY_GROUPS

pytestmark = pytest.mark.django_db

CAPABILITY_CODENAMES = [
    "view_console",
    "manage_connections",
    "replay_webhooks",
    "send_documents",
    "send_emails",
    "pay_suppliers",
    "approve_payments",
    "view_balances",
    "operate_queues",
]


def test_migration_creates_one_group_per_capability_holding_its_permission():
    for codename in CAPABILITY_CODENAMES:
        group = Group.objects.get(name=CAPABILITY_GROUPS[codename])
        capability_permissions = group.permissions.filter(content_type__model="capability")
        assert [p.codename for p in capability_permissions] == [codename]


def test_group_names_are_french():
    names = set(Group.objects.values_list("name", flat=True))
    assert {"Console — consultation", "Paiement fournisseurs", "Paiements — approbation"} <= names


def test_capability_permissions_carry_the_app_label_code_refers_to():
    user = User.objects.create_user("ana", password="x", is_staff=True)
    user.groups.add(Group.objects.get(name="Paiement fournisseurs"))
    user = User.objects.get(pk=user.pk)  # fresh permission cache
    assert user.has_perm("core.pay_suppliers")
    assert not user.has_perm("core.approve_payments")
    assert Permission.objects.get(codename="pay_suppliers").name == "Payer les fournisseurs"


def test_console_viewers_can_open_the_console_models_read_only():
    viewers = Group.objects.get(name="Console — consultation")
    codenames = set(viewers.permissions.values_list("codename", flat=True))
    assert {"view_connection", "view_webhookevent", "view_quote", "view_supplierbill"} <= codenames
    assert not any(codename.startswith(("add_", "change_", "delete_")) for codename in codenames)


def test_connection_managers_can_edit_connections_but_payers_cannot():
    managers = set(Group.objects.get(name="Connexions — gestion").permissions.values_list("codename", flat=True))
    payers = set(Group.objects.get(name="Paiement fournisseurs").permissions.values_list("codename", flat=True))
    assert {"add_connection", "change_connection", "delete_connection"} <= managers
    assert "change_connection" not in payers
    assert "add_supplierbill" in payers


def test_staff_member_with_the_viewer_group_may_read_but_not_write_records():
    user = User.objects.create_user("leo", password="x", is_staff=True)
    user.groups.add(Group.objects.get(name="Console — consultation"))
    user = User.objects.get(pk=user.pk)
    assert user.has_perm("core.view_console")
    assert user.has_perm("hub.view_quote")
    assert user.has_module_perms("hub")
    assert not user.has_perm("hub.add_quote")
    assert not user.has_perm("core.pay_suppliers")


@pytest.mark.django_db(transaction=True)
def test_groups_come_back_after_a_flush():
    """A flush (tests, `manage.py flush`) empties auth_group; post_migrate puts the capability groups back."""
    call_command("flush", interactive=False, verbosity=0)

    group = Group.objects.get(name="Paiement fournisseurs")
    assert group.permissions.filter(content_type__app_label="core", codename="pay_suppliers").exists()
    assert group.permissions.filter(codename="change_supplierbill").exists()
    operations = Group.objects.get(name="Exploitation")
    assert list(operations.permissions.values_list("codename", flat=True)) == ["operate_queues"]
