"""The second factor's pages: enter the code after the password, or enrol a device the first time.

See apps/core/second_factor.py for who must pass them and when.
"""

import segno
from django import forms
from django.http import HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

from apps.core import second_factor


class CodeForm(forms.Form):
    code = forms.CharField(
        label=gettext_lazy("Code à 6 chiffres de votre application d'authentification"),
        max_length=8, min_length=6,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}),
    )


def _next(request) -> str:
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if candidate and url_has_allowed_host_and_scheme(candidate, {request.get_host()}, request.is_secure()):
        return candidate
    return reverse("admin:index")


def _with_next(url_name, request) -> str:
    from urllib.parse import urlencode

    return reverse(url_name) + "?" + urlencode({"next": _next(request)})


def verify(request):
    user = request.user
    if not second_factor.needs_second_factor(user) or user.is_verified():
        return HttpResponseRedirect(_next(request))
    device = second_factor.totp_device(user)
    if device is None:
        return HttpResponseRedirect(_with_next("core:second_factor_enrol", request))
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        allowed, _details = device.verify_is_allowed()
        if not allowed:
            form.add_error("code", _("Trop de codes incorrects : patientez quelques secondes puis réessayez."))
        elif second_factor.fresh_code_matches(user, form.cleaned_data["code"]):
            otp_login(request, device)
            return HttpResponseRedirect(_next(request))
        else:
            form.add_error("code", _("Code incorrect ou déjà utilisé : saisissez le code affiché maintenant."))
    return render(request, "core/second_factor/verify.html", {
        "form": form, "next": _next(request), "title": _("Second facteur"),
    })


def enrol(request):
    user = request.user
    if not second_factor.needs_second_factor(user):
        return HttpResponseRedirect(_next(request))
    if second_factor.totp_device(user) is not None:
        return HttpResponseRedirect(_with_next("core:second_factor", request))
    device = second_factor.totp_device(user, confirmed=False) or TOTPDevice.objects.create(
        user=user, name=_("Application d'authentification"), confirmed=False
    )
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if device.verify_token(form.cleaned_data["code"].strip()):
            device.confirmed = True
            device.save(update_fields=["confirmed"])
            otp_login(request, device)
            return HttpResponseRedirect(_next(request))
        form.add_error("code", _("Code incorrect : vérifiez l'heure de votre téléphone et saisissez le code affiché."))
    return render(request, "core/second_factor/enrol.html", {
        "form": form,
        "next": _next(request),
        "title": _("Activer le second facteur"),
        "qr_svg": segno.make(device.config_url, error="m").svg_inline(scale=4, dark="#000", light="#fff"),
        "secret": second_factor.base32_secret(device),
    })
