"""Template tags that put the kernel's contextual pieces on any record page or admin change form.

    {% load console_actions %}
    {% action_bar obj %}        buttons of every registered action, and the record's live socket
    {% record_panels obj %}     panels system apps registered for the record's model
    {% record_timeline obj %}   action runs and timeline entries, newest first

The templates need `request` in the context (the request context processor is on).
"""

from django import template
from django.template.loader import render_to_string

from apps.core.console import presenters

register = template.Library()


@register.simple_tag(takes_context=True)
def action_bar(context, obj):
    request = context["request"]
    return render_to_string("core/actions/bar.html", presenters.action_bar_context(obj, request), request=request)


@register.simple_tag(takes_context=True)
def record_timeline(context, obj, connect=False):
    """`connect=True` opens the record's live socket; leave it off when the action bar is on the page."""
    request = context["request"]
    return render_to_string(
        "core/timeline/timeline.html", presenters.timeline_context(obj, connect=connect), request=request
    )


@register.simple_tag(takes_context=True)
def record_panels(context, obj):
    """Each panel's template with its context(obj, user); a panel whose context is None is hidden."""
    request = context["request"]
    # Rendered even when empty: a panel that appears later (a first link to a system) is swapped in live.
    return render_to_string(
        "core/actions/panels.html",
        {"panels": presenters.record_panels(obj, request), "record_key": presenters.record_key(obj)},
        request=request,
    )


@register.filter
def readable_ids(external_ids):
    """{% for label, value in run.external_ids|readable_ids %}: ids in words, no internal flags."""
    return presenters.readable_ids(external_ids)
