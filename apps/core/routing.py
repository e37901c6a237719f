from django.urls import re_path

from apps.core.consumers import LiveFragmentConsumer

# Any segment reaches the consumer, which refuses undeclared or malformed group names itself
# (a route miss would raise inside the router instead of closing the socket cleanly).
websocket_urlpatterns = [
    re_path(r"^ws/live/(?P<group>[^/]{1,100})/$", LiveFragmentConsumer.as_asgi()),
]
