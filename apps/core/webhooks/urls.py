from django.urls import re_path

from apps.core.webhooks import views

# One pattern, trailing slash optional, so that APPEND_SLASH never has a reason to redirect a hook.
urlpatterns = [
    re_path(
        r"^(?P<provider>[a-z0-9_-]{1,32})/(?P<endpoint_id>[0-9a-fA-F-]{32,36})(?:/(?P<url_event>[A-Za-z0-9_.:-]{1,120}))?/?$",
        views.receive,
        name="webhook_receive",
    ),
]
