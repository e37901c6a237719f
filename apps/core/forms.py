"""The connection form of the admin: secrets are write-only.

A secret input is always rendered empty, with the stored value's masked form (`••••1234`) as help text.
Leaving it empty keeps the stored value; the "Effacer" box next to it removes it. Webhook secrets are a
list: one input adds a new secret (rotation: old and new both verify), one box per stored secret
removes it. No secret value ever reaches the HTML.
"""

from django import forms
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext_lazy as _

from apps.core import encryption, providers
from apps.core.models import Connection

SECRET_PREFIX = "secret__"
CLEAR_SUFFIX = "__clear"


def webhook_secret_fingerprint(secret: str) -> str:
    """A stable, non-reversible handle for one webhook secret, used as the value of its "remove" box."""
    return salted_hmac("core.forms.webhook_secret", secret, algorithm="sha256").hexdigest()[:16]


def stored(connection: Connection, attribute: str, empty):
    """(decrypted value, "") of an encrypted field, or (empty, the French line saying why and what to do) when
    no key of FIELD_ENCRYPTION_KEYS decrypts it: the page shows that line and lets the secret be typed again."""
    if not connection.pk:
        return empty, ""
    try:
        return getattr(connection, attribute), ""
    except encryption.DecryptionError as exc:
        return empty, str(exc)


def secret_names(connection: Connection, provider: providers.Provider | None) -> list[str]:
    """The provider's declared secrets, then any other name the connection stores."""
    declared = list(provider.secret_names) if provider else []
    secrets, _unreadable = stored(connection, "secrets", {})
    return declared + sorted(name for name in secrets if name not in declared)


def secret_field_names(connection: Connection, provider: providers.Provider | None) -> list[str]:
    """The form fields of the secret inputs, in display order (for the admin's fieldsets)."""
    fields = []
    secrets, _unreadable = stored(connection, "secrets", {})
    for name in secret_names(connection, provider):
        fields.append(SECRET_PREFIX + name)
        if secrets.get(name):
            fields.append(SECRET_PREFIX + name + CLEAR_SUFFIX)
    return fields


class ConnectionForm(forms.ModelForm):
    provider = forms.ChoiceField(label=_("Système"))
    new_webhook_secret = forms.CharField(
        label=_("Nouveau secret de webhook"),
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=_("Ajouté à la liste : l'ancien et le nouveau sont acceptés jusqu'à ce que l'ancien soit retiré."),
    )
    remove_webhook_secrets = forms.MultipleChoiceField(
        label=_("Retirer des secrets de webhook"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )

    class Meta:
        model = Connection
        fields = ["provider", "name", "slug", "base_url", "is_active", "config"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["provider"].choices = self._provider_choices()
        if self.instance.pk:
            # The webhook URL and the secret names depend on the provider: it is chosen once.
            self.fields["provider"].disabled = True
            self.fields["provider"].initial = self.instance.provider
        self.system = self._selected_provider()
        self._add_secret_fields()
        self._set_webhook_secret_choices()

    # Construction ---------------------------------------------------------------------------------
    def _provider_choices(self):
        choices = [(p.key, p.label) for p in providers.all_providers()]
        current = self.instance.provider
        if current and current not in dict(choices):
            choices.append((current, _("%(key)s (système non installé)") % {"key": current}))
        return [("", "---------"), *choices]

    def _selected_provider(self):
        if self.instance.pk:
            key = self.instance.provider
        elif self.is_bound:
            key = self.data.get(self.add_prefix("provider"))
        else:
            key = self.initial.get("provider")
        try:
            return providers.get(key) if key else None
        except providers.UnknownProvider:
            return None

    def secret_names(self) -> list[str]:
        return secret_names(self.instance, self.system)

    def _add_secret_fields(self):
        secrets, unreadable = stored(self.instance, "secrets", {})
        for name in self.secret_names():
            masked = encryption.mask(secrets.get(name))
            help_text = unreadable or (
                _("Valeur enregistrée : %(masked)s. Laisser vide pour la conserver.") % {"masked": masked}
                if masked else _("Aucune valeur enregistrée.")
            )
            self.fields[SECRET_PREFIX + name] = forms.CharField(
                label=name,
                required=False,
                strip=True,
                widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
                help_text=help_text,
            )
            if masked:
                self.fields[SECRET_PREFIX + name + CLEAR_SUFFIX] = forms.BooleanField(
                    label=_("Effacer %(name)s") % {"name": name}, required=False
                )

    def _set_webhook_secret_choices(self):
        webhook_secrets, unreadable = stored(self.instance, "webhook_secrets", [])
        self.fields["remove_webhook_secrets"].choices = [
            (webhook_secret_fingerprint(secret), encryption.mask(secret) or "••••") for secret in webhook_secrets
        ]
        if unreadable:
            self.fields["remove_webhook_secrets"].help_text = unreadable
        elif not self.fields["remove_webhook_secrets"].choices:
            self.fields["remove_webhook_secrets"].help_text = _("Aucun secret de webhook enregistré.")

    # Validation and saving ------------------------------------------------------------------------
    def clean(self):
        cleaned = super().clean()
        if not self.instance.pk and self.system is None and cleaned.get("provider"):
            self.add_error("provider", _("Système inconnu."))
        for name in self.secret_names():
            if cleaned.get(SECRET_PREFIX + name) and cleaned.get(SECRET_PREFIX + name + CLEAR_SUFFIX):
                self.add_error(
                    SECRET_PREFIX + name,
                    _("Saisir une nouvelle valeur ou effacer l'ancienne, pas les deux."),
                )
        return cleaned

    def save(self, commit=True):
        connection = super().save(commit=False)
        # An unreadable stored value is replaced only by what was typed again; otherwise its token is kept.
        secrets, unreadable = stored(connection, "secrets", {})
        updated = self._updated_secrets(dict(secrets))
        if not unreadable or updated:
            connection.secrets = updated
        webhook_secrets, unreadable = stored(connection, "webhook_secrets", [])
        updated = self._updated_webhook_secrets(list(webhook_secrets))
        if not unreadable or updated:
            connection.webhook_secrets = updated
        if not self.instance.pk and self.system is not None and self.system.uses_oauth:
            connection.token_status = Connection.TokenStatus.MISSING
        if commit:
            connection.save()
            self._save_m2m()
        return connection

    def _updated_secrets(self, secrets: dict) -> dict:
        for name in self.secret_names():
            value = self.cleaned_data.get(SECRET_PREFIX + name)
            if value:
                secrets[name] = value
            elif self.cleaned_data.get(SECRET_PREFIX + name + CLEAR_SUFFIX):
                secrets.pop(name, None)
        return secrets

    def _updated_webhook_secrets(self, secrets: list) -> list:
        removed = set(self.cleaned_data.get("remove_webhook_secrets") or ())
        secrets = [secret for secret in secrets if webhook_secret_fingerprint(secret) not in removed]
        new = self.cleaned_data.get("new_webhook_secret")
        if new and new not in secrets:
            secrets.append(new)
        return secrets
