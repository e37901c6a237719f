"""The console's capabilities: one permission and one group per thing a person may do.

Code checks the permission (`user.has_perm("core.pay_suppliers")`); people get it through the group.
Migrations 0002 and 0004 create the permissions and the groups. After every `migrate`, `grant_model_permissions`
adds to those groups the Django model permissions the admin needs to show their pages (additive: a
permission withdrawn by hand comes back at the next migrate; withdraw the group instead).
"""

from django.apps import apps as global_apps

# codename -> group name. Kept identical to the frozen copies in migrations 0002 and 0004.
CAPABILITY_GROUPS = {
    "view_console": "Console — consultation",
    "manage_connections": "Connexions — gestion",
    "replay_webhooks": "Webhooks — relance",
    "send_documents": "Devis et factures — envoi",
    "send_emails": "E-mails — envoi",
    "pay_suppliers": "Paiement fournisseurs",
    "approve_payments": "Paiements — approbation",
    "view_balances": "Trésorerie — soldes",
    "operate_queues": "Exploitation",
}

# codename -> {"app_label.model_name": actions}. "*" stands for every model of the console's own apps.
MODEL_PERMISSIONS = {
    "view_console": {"*": ("view",)},
    "manage_connections": {"core.connection": ("add", "change", "delete", "view")},
    "send_documents": {
        model: ("add", "change", "view")
        for model in ("hub.company", "hub.contact", "hub.quote", "hub.quoteline", "hub.invoice", "hub.invoiceline")
    },
    "pay_suppliers": {model: ("add", "change", "view") for model in ("hub.company", "hub.supplierbill")},
}


def group_name(codename: str) -> str:
    return CAPABILITY_GROUPS[codename]


def console_models():
    return [model for model in global_apps.get_models() if model.__module__.startswith("apps.")]


def grant_model_permissions(*, app_config=None, using="default", **kwargs) -> None:
    """post_migrate receiver: make sure each capability group exists and holds its permissions.

    Migration 0002 creates the groups; a flush (tests, `manage.py flush`) empties the table and sends
    post_migrate again, so the groups are recreated here too. post_migrate is sent once per app, after
    that app's permissions exist: act on the last one only.
    """
    from django.contrib.auth.models import Group, Permission
    from django.contrib.contenttypes.models import ContentType

    from apps.core.models import Capability

    apps_with_models = [config for config in global_apps.get_app_configs() if config.models_module is not None]
    if app_config is not None and app_config is not apps_with_models[-1]:
        return

    capability_type = ContentType.objects.db_manager(using).get_for_model(Capability, for_concrete_model=False)
    for codename, name in CAPABILITY_GROUPS.items():
        group, _ = Group.objects.using(using).get_or_create(name=name)
        group.permissions.add(*Permission.objects.using(using).filter(content_type=capability_type, codename=codename))

    for codename, grants in MODEL_PERMISSIONS.items():
        group = Group.objects.using(using).get(name=CAPABILITY_GROUPS[codename])
        wanted = []
        for label, actions in grants.items():
            models = console_models() if label == "*" else [_model_or_none(label)]
            for model in filter(None, models):
                if not model._meta.default_permissions:
                    continue
                content_type = ContentType.objects.db_manager(using).get_for_model(model, for_concrete_model=False)
                codenames = [f"{action}_{model._meta.model_name}" for action in actions]
                wanted += Permission.objects.using(using).filter(content_type=content_type, codename__in=codenames)
        group.permissions.add(*wanted)


def _model_or_none(label: str):
    try:
        return global_apps.get_model(label)
    except LookupError:
        return None
