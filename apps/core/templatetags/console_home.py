"""`{% console_home %}`: the connection cards and the live webhook feed of the admin index.
`{% approvals_to_do %}`: the payments waiting for this user's approval, first on the home page;
`{% approvals_count as n %}`: their number, in the header of every page.
`{% home_to_do %}`: what else waits for this user (apps.core.home_todo), before the system cards."""

from django import template

from apps.core import actions, home, home_todo, live_feed
from apps.core.console import presenters

register = template.Library()


@register.inclusion_tag("core/home/console.html", takes_context=True)
def console_home(context):
    return {
        "cards": home.connection_cards(),
        "feed": home.latest_webhooks(),
        "feed_group": live_feed.GROUP,
        "perms": context.get("perms"),
    }


@register.inclusion_tag("core/home/approvals.html", takes_context=True)
def approvals_to_do(context):
    request = context.get("request")
    return {"rows": presenters.approvals_waiting(request.user) if request else []}


@register.inclusion_tag("core/home/to_do.html", takes_context=True)
def home_to_do(context):
    request = context.get("request")
    return {"items": home_todo.for_user(getattr(request, "user", None))}


@register.simple_tag(takes_context=True)
def approvals_count(context):
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return 0
    return len(actions.waiting_for(user))
