"""The header search page (apps.hub.search): the records matching what was typed, by kind."""

from django.contrib import admin
from django.shortcuts import render
from django.utils.translation import gettext as _

from apps.core.console.access import staff_required
from apps.hub import search as record_search


@staff_required()
def search(request):
    text = " ".join(request.GET.get("q", "").split())[:record_search.MAX_LENGTH]
    too_short = len(text) < record_search.MIN_LENGTH
    groups = [] if too_short else record_search.search(request.user, text)
    return render(request, "hub/search.html", {
        **admin.site.each_context(request),
        "title": _("Recherche"),
        "query": text,
        "header_search_query": text,  # the header box keeps what was typed (other pages' "query" is theirs)
        "too_short": too_short,
        "min_length": record_search.MIN_LENGTH,
        "groups": groups,
    })
