"""Forms of the hub records: a form never overwrites a newer version of its record.

Optimistic concurrency. A change form carries, in a hidden signed field, the values of the record as
the form showed them (every stored field, the read-only ones included). When the form comes back, the
record is read again: if anything changed meanwhile (a send, a webhook, a sync, another user), nothing
is saved and the form says, field by field, what changed. The hidden field then carries the current
version, so saving again applies the user's input knowingly over what they have now seen.

A version made of the values themselves, rather than `updated_at`, also catches writes that go
through `QuerySet.update()` (which does not touch `auto_now` fields).
"""

from django import forms
from django.core import signing
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from apps.core.numbers import format_number
from apps.hub import bank_details

VERSION_SALT = "hub.record-version"
UNTRACKED = {"id", "created_at", "updated_at"}


def tracked_fields(model):
    return [field for field in model._meta.concrete_fields if field.name not in UNTRACKED]


def _display(instance, field) -> str:
    value = getattr(instance, field.attname)
    if value in (None, ""):
        return "—"
    if field.choices:
        return str(dict(field.flatchoices).get(value, value))
    if field.is_relation:
        return str(getattr(instance, field.name))
    if isinstance(value, bool):
        return _("oui") if value else _("non")
    if field.get_internal_type() == "DecimalField":
        return format_number(value)
    return str(value)


def record_version(instance) -> dict:
    """{field name: [stored value, value as a person reads it]} for every tracked field."""
    return {
        field.name: [field.value_to_string(instance), _display(instance, field)]
        for field in tracked_fields(type(instance))
    }


def changes_between(seen: dict, current: dict, model) -> list[str]:
    lines = []
    for field in tracked_fields(model):
        before, now = seen.get(field.name), current.get(field.name)
        if before is None or before[0] != now[0]:
            label = str(field.verbose_name)
            lines.append(_("%(field)s : « %(before)s » → « %(now)s »") % {
                "field": label[:1].upper() + label[1:], "before": before[1] if before else "—", "now": now[1]})
    return lines


class RecordVersionForm(forms.ModelForm):
    """Base form of every hub record's admin page (see the module docstring)."""

    record_version = forms.CharField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["record_version"] = signing.dumps(record_version(self.instance), salt=VERSION_SALT)

    def clean(self):
        cleaned = super().clean()
        if not self.instance.pk:
            return cleaned
        current = record_version(self.instance)
        try:
            seen = signing.loads(self.data.get(self.add_prefix("record_version"), ""), salt=VERSION_SALT)
        except signing.BadSignature:
            seen = None
        if seen == current:
            return cleaned
        # From now on the form carries the version the user is about to see.
        self.data = self.data.copy()
        self.data[self.add_prefix("record_version")] = signing.dumps(current, salt=VERSION_SALT)
        if seen is None:
            raise forms.ValidationError(
                _("Ce formulaire ne porte pas la version du dossier qu'il modifie : rien n'a été enregistré. "
                  "Vérifiez les valeurs affichées puis enregistrez à nouveau."), code="stale_record")
        changes = changes_between(seen, current, self._meta.model)
        raise forms.ValidationError(
            _("Ce dossier a été modifié depuis l'ouverture de ce formulaire : rien n'a été enregistré. "
              "Changements : %(changes)s. Vos saisies sont conservées : vérifiez-les puis enregistrez à "
              "nouveau pour les appliquer à la version actuelle.") % {"changes": " ; ".join(changes)},
            code="stale_record")


class CompanyForm(RecordVersionForm):
    """Bank details and identifiers are refused where they are typed, not when a payment later fails."""

    # Typed as printed ("BR18 0036 …"): up to 34 characters plus the spaces of groups of four.
    iban = forms.CharField(label=gettext_lazy("IBAN"), max_length=44, required=False)

    def clean_iban(self):
        return bank_details.validate_iban(self.cleaned_data["iban"]) if self.cleaned_data["iban"].strip() else ""

    def clean_bic(self):
        return bank_details.validate_bic(self.cleaned_data["bic"]) if self.cleaned_data["bic"].strip() else ""

    def clean_sort_code(self):
        value = self.cleaned_data["sort_code"]
        return bank_details.validate_sort_code(value) if value.strip() else ""

    def clean_routing_number(self):
        value = self.cleaned_data["routing_number"]
        return bank_details.validate_routing_number(value) if value.strip() else ""

    def clean_vat_number(self):
        return bank_details.validate_vat_number(self.cleaned_data["vat_number"])

    def clean(self):
        cleaned = super().clean()
        country = cleaned.get("country_code") or ""
        if "registration_number" in cleaned:
            try:
                cleaned["registration_number"] = bank_details.validate_company_identifier(
                    cleaned["registration_number"], country)
            except forms.ValidationError as error:
                self.add_error("registration_number", error)
        account_no = (cleaned.get("account_no") or "").strip()
        if account_no:
            validate = (bank_details.validate_uk_account_no if cleaned.get("sort_code")
                        else bank_details.validate_us_account_no)
            try:
                cleaned["account_no"] = validate(account_no)
            except forms.ValidationError as error:
                self.add_error("account_no", error)
        return cleaned


RecordVersionForm.base_fields["record_version"].label = gettext_lazy("version du dossier")
