"""A small stand-in for the Data Studio: a person browsing the mirror and editing an item by hand.

Edits are made as the project's first admin user, through the same write path as the API, so they run the
Flow exactly as an edit in the Data Studio would. "Couper / rétablir Directus" rehearses an outage.
"""

from __future__ import annotations

from django.db import transaction
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse

from apps.core.sandbox import sandbox_view
from apps.directus.sandbox import api
from apps.directus.sandbox.state import SandboxDirectusCollection, SandboxDirectusItem, SandboxDirectusProject


def _project():
    project = SandboxDirectusProject.objects.order_by("pk").first()
    if project is None:
        raise Http404("Aucun projet Directus de démonstration.")
    return project


@sandbox_view
def studio(request):
    project = _project()
    collections = list(SandboxDirectusCollection.objects.filter(project=project).order_by("name"))
    current = next((c for c in collections if c.name == request.GET.get("collection")), collections[0] if collections else None)
    rows = [api.full_item(current, item) for item in current.items.all()[:200]] if current else []
    columns = [f["field"] for f in current.fields] if current else []
    return render(request, "directus/sandbox_studio.html", {
        "project": project, "collections": collections, "current": current, "columns": columns,
        "rows": [(row.get(current.primary_key), [row.get(c) for c in columns]) for row in rows],
    })


@sandbox_view
def edit(request, name, key):
    project = _project()
    collection = SandboxDirectusCollection.objects.filter(project=project, name=name).first()
    item = SandboxDirectusItem.objects.filter(collection=collection, key=key).first() if collection else None
    if item is None:
        raise Http404("Élément introuvable.")
    if request.method == "POST":
        editor = project.users.filter(is_admin=True).order_by("pk").first()
        changes = {f["field"]: request.POST[f["field"]] for f in collection.fields
                   if f["field"] in request.POST and str(item.data.get(f["field"]) or "") != request.POST[f["field"]]}
        if changes and editor is not None:
            with transaction.atomic():
                try:
                    api.update_item(editor, collection, item, changes)
                except api.Problem:
                    pass
        return HttpResponseRedirect(reverse("directus_sandbox:studio") + f"?collection={name}")
    editable = [(f["field"], item.data.get(f["field"]), (f.get("meta") or {}).get("readonly", False))
                for f in collection.fields if f["field"] != collection.primary_key]
    return render(request, "directus/sandbox_edit.html", {"collection": collection, "item": item,
                                                          "editable": editable})


@sandbox_view
def toggle_outage(request):
    project = _project()
    if request.method == "POST":
        SandboxDirectusProject.objects.filter(pk=project.pk).update(is_down=not project.is_down)
    return HttpResponseRedirect(reverse("directus_sandbox:studio"))
