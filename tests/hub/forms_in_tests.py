"""Posting a hub record's change form as the browser does: with the version the page carried."""

from django.urls import reverse


def opened_form(client, record) -> dict:
    """The change form's hidden fields as a page opened now would send them back."""
    url = reverse(f"admin:hub_{record._meta.model_name}_change", args=[record.pk])
    form = client.get(url).context["adminform"].form
    return {"record_version": form["record_version"].value()}


def inline_management(prefix, total=0, initial=0):
    return {f"{prefix}-TOTAL_FORMS": str(total), f"{prefix}-INITIAL_FORMS": str(initial),
            f"{prefix}-MIN_NUM_FORMS": "0", f"{prefix}-MAX_NUM_FORMS": "1000"}
