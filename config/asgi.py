"""One ASGI application: Django for HTTP, Channels for the live-fragment WebSockets."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# The web server pools its PostgreSQL connections (see DATABASE_POOL in config/settings.py): only this entry
# point, never the worker or a command. DATABASE_POOL=0 in the environment turns it off. The default is
# withdrawn once the settings are read, so no process started from this one (nor a test run that imports
# this module) inherits it.
pool_by_default = "DATABASE_POOL" not in os.environ
os.environ.setdefault("DATABASE_POOL", "1")
django_http = get_asgi_application()
if pool_by_default:
    del os.environ["DATABASE_POOL"]

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from apps.core.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_http,
        "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)
