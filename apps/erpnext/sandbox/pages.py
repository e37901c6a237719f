"""The emulator's page for people (not part of ERPNext's API): what each site holds, and the switches a demo
needs — run the daily overdue job (status changes, `modified` does not) and record a payment on an invoice."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django.db.models import Count
from django.http import HttpResponse, HttpResponseRedirect
from django.utils.html import escape

from apps.erpnext.sandbox import state
from apps.erpnext.sandbox.state import SandboxDocument, SandboxSite


def index(request):
    message = ""
    if request.method == "POST":
        site = SandboxSite.objects.filter(pk=request.POST.get("site") or 0).first()
        if site is None:
            message = "Site inconnu."
        elif request.POST.get("action") == "overdue":
            message = f"Tâche quotidienne exécutée : {state.run_daily_overdue(site)} facture(s) passée(s) en retard."
        elif request.POST.get("action") == "payment":
            try:
                amount = Decimal(request.POST.get("amount", "").replace(",", "."))
                state.record_payment(site, request.POST.get("invoice", ""), amount)
                message = "Paiement enregistré."
            except (InvalidOperation, SandboxDocument.DoesNotExist):
                message = "Facture ou montant invalide."
        if message:
            return HttpResponseRedirect(f"{request.path}?message={escape(message)}")
    rows = []
    for site in SandboxSite.objects.all():
        counts = SandboxDocument.objects.filter(site=site).values("doctype").annotate(n=Count("id"))
        listing = ", ".join(f"{escape(row['doctype'])} : {row['n']}" for row in counts.order_by("doctype"))
        rows.append(
            f"<section><h2>{escape(site.name)}</h2><p>{listing or 'vide'}</p>"
            f"<form method='post'><input type='hidden' name='site' value='{site.pk}'>"
            f"<button name='action' value='overdue'>Exécuter la tâche quotidienne « Overdue »</button></form>"
            f"<form method='post'><input type='hidden' name='site' value='{site.pk}'>"
            f"<input name='invoice' placeholder='ACC-SINV-…'> <input name='amount' placeholder='Montant'>"
            f"<button name='action' value='payment'>Enregistrer un paiement</button></form></section>"
        )
    note = escape(request.GET.get("message", ""))
    return HttpResponse(
        "<!DOCTYPE html><html lang='fr'><head><meta charset='utf-8'><title>Sandbox ERPNext</title></head><body>"
        f"<h1>Sandbox ERPNext v15</h1><p role='status'>{note}</p>{''.join(rows) or '<p>Aucun site.</p>'}</body></html>"
    )
