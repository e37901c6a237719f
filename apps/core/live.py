"""Server-pushed HTML fragments: render a partial, send it to a Channels group.

Pages subscribe with htmx's ws extension (`hx-ext="ws" ws-connect="/ws/live/<group>/"`); each fragment
carries its own `id` and `hx-swap-oob`, so the extension swaps it into place. Who may join a group is
declared here with `register_group`; the consumer (apps/core/consumers.py) enforces it.
"""

import logging
import re
import time
from collections.abc import Callable

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.template.loader import render_to_string
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

GROUP_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{0,90}$")

# A rule for listening to a group: a permission codename ("" = any active staff user), or a function
# (user, group name) -> bool for groups whose audience depends on the group (a record's socket).
ListenRule = str | Callable[[object, str], bool]

# group prefix -> rule
_group_permissions: dict[str, ListenRule] = {}


def register_group(prefix: str, permission: ListenRule = "") -> None:
    _group_permissions[prefix] = permission


def permission_for(group: str) -> ListenRule | None:
    """The rule a user must pass to join `group`, or None if no such group is declared."""
    if not GROUP_NAME.match(group):
        return None
    for prefix in sorted(_group_permissions, key=len, reverse=True):
        if group == prefix or group.startswith(prefix + "."):
            return _group_permissions[prefix]
    return None


def push_html(group: str, html: str) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(group, {"type": "fragment", "html": html})
    except (RedisError, OSError) as exc:
        # A live page missing one refresh is acceptable; the request or job that pushed must not fail.
        logger.warning("Fragment non diffusé au groupe %s : %s", group, exc)


def push(group: str, template: str, context: dict | None = None) -> None:
    push_html(group, render_to_string(template, context or {}))


register_group("console", "core.view_console")


_listener_clients: dict[str, object] = {}


def has_listeners(group: str) -> bool:
    """Whether any socket is in `group` now: a fragment nobody would receive need not be rendered.

    Reads the Redis layer's group set (channels-redis keeps one sorted set per group, `<prefix>:group:<name>`,
    members expire after `group_expiry`). Any other layer, or Redis not answering: True, push as before.
    """
    layer = get_channel_layer()
    if layer is None:
        return False
    group_key = getattr(layer, "_group_key", None)
    hosts = getattr(layer, "hosts", None)
    if group_key is None or not hosts:
        return True
    address = hosts[layer.consistent_hash(group)].get("address")
    if not address:
        return True
    try:
        client = _listener_clients.get(address)
        if client is None:
            import redis

            client = _listener_clients[address] = redis.Redis.from_url(address, socket_timeout=5)
        return bool(client.zcount(group_key(group), time.time() - layer.group_expiry, "+inf"))
    except (RedisError, OSError):
        return True
