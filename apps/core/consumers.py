"""The one WebSocket consumer: a staff page listens to a live group and receives rendered fragments.

Who may join is decided before the handshake is accepted: anonymous, inactive and non-staff users,
users without the group's declared permission (or failing its rule: a record's socket follows the
record's page) and undeclared groups are closed before accept (the
client sees a refused handshake), and so is a user who needs a second factor and has not given it in
this session (apps/core/second_factor.py). The origin is checked by AllowedHostsOriginValidator in config/asgi.py.
"""

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from apps.core import live, second_factor


class LiveFragmentConsumer(AsyncWebsocketConsumer):
    async def connect(self):
        self.group = self.scope["url_route"]["kwargs"]["group"]
        if not await database_sync_to_async(may_listen)(self.scope.get("user"), self.group, self.scope.get("session")):
            await self.close()
            return
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code):
        if getattr(self, "group", None) and self.channel_layer is not None:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(self, text_data=None, bytes_data=None):
        # The page only listens; anything it sends (htmx ws-send) is ignored.
        return

    async def fragment(self, event):
        # The language the user chose (the console's language switch), as their pages are rendered in.
        language = (self.scope.get("cookies") or {}).get(settings.LANGUAGE_COOKIE_NAME)
        await self.send(text_data=(event.get("by_language") or {}).get(language) or event["html"])


def may_listen(user, group: str, session=None) -> bool:
    permission = live.permission_for(group)
    if permission is None or user is None:
        return False
    if not (user.is_authenticated and user.is_active and user.is_staff):
        return False
    if not second_factor.may_proceed(user, session):
        return False  # logged in with the password only: pages wait for the second factor, so do sockets
    if callable(permission):
        return permission(user, group)
    return not permission or user.has_perm(permission)
