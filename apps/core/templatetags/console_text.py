"""Punctuation that differs between the console's languages: "Statut :" in French, "Status:" in English."""

from django import template
from django.utils.translation import gettext

register = template.Library()


@register.simple_tag
def label_colon():
    """What follows a label: Django's own ":" message, which French writes with a no-break space before it
    (locale/fr; Django's catalogue has an ordinary space, which can wrap the colon onto the next line)."""
    return gettext(":")
