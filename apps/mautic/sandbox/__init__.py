"""Stateful emulator of Mautic 5.1.1, mounted under /sandbox/mautic/ when SANDBOX is on.

    api.py       REST API under /api/ and the OAuth2 token endpoint (shapes, errors and quirks, NOTES §1–§5)
    delivery.py  signed webhook deliveries, immediate or queued and batched (NOTES §4)
    pages.py     OAuth2 consent, the recipients' inbox (open / click / unsubscribe), settings
    records.py   entities and their 5.x serialisation
    state.py     the tables
"""

from django.urls import re_path

from apps.mautic.sandbox import api, pages

app_name = "mautic_sandbox"
urlpatterns = [
    re_path(r"^$", pages.inbox, name="inbox"),
    re_path(r"^inbox/(?P<stat_id>\d+)/open/$", pages.open_email, name="open_email"),
    re_path(r"^inbox/(?P<stat_id>\d+)/click/$", pages.click_email, name="click_email"),
    re_path(r"^contacts/(?P<contact_id>\d+)/unsubscribe/$", pages.unsubscribe, name="unsubscribe"),
    re_path(r"^settings/$", pages.settings_page, name="settings"),
    re_path(r"^webhooks/process/$", pages.process_queue, name="process_queue"),
    re_path(r"^oauth/v2/authorize$", pages.authorize, name="authorize"),
    re_path(r"^oauth/v2/token$", api.token, name="token"),
    re_path(r"^api/(?P<path>.*)$", api.api, name="api"),
]
