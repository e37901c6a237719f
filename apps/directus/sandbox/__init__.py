"""Stateful emulator of Directus, mounted under /sandbox/directus/ when SANDBOX is on.

`api.py` the REST API (server, users/me, OpenAPI, schema, items), `query.py` the items query language,
`flows.py` the Flow that calls the console on item changes, `pages.py` a stand-in for the Data Studio,
`state.py` the emulator's tables.
"""

from django.urls import path

app_name = "directus_sandbox"


def _urls():
    from apps.directus.sandbox import api, pages

    return [
        path("", pages.studio, name="studio"),
        path("studio/<str:name>/<str:key>/", pages.edit, name="edit"),
        path("studio/outage/", pages.toggle_outage, name="toggle_outage"),
        path("server/ping", api.ping, name="ping"),
        path("server/specs/oas", api.openapi, name="openapi"),
        path("users/me", api.users_me, name="users_me"),
        path("collections", api.collections, name="collections"),
        path("collections/<str:name>", api.collection_detail, name="collection"),
        path("fields/<str:name>", api.fields, name="fields"),
        path("items/<str:name>", api.items, name="items"),
        path("items/<str:name>/<str:key>", api.item, name="item"),
    ]


def __getattr__(name):
    # urlpatterns built lazily: this package is imported by models.py (state.py) before the URLconf.
    if name == "urlpatterns":
        return _urls()
    raise AttributeError(name)
