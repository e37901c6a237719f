"""`{% console_home %}`: the connection cards and the live webhook feed of the admin index."""

from django import template

from apps.core import home, live_feed

register = template.Library()


@register.inclusion_tag("core/home/console.html", takes_context=True)
def console_home(context):
    return {
        "cards": home.connection_cards(),
        "feed": home.latest_webhooks(),
        "feed_group": live_feed.GROUP,
        "perms": context.get("perms"),
    }
