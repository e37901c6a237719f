"""Logins that move money are strong: throttled failures, a second factor, a fresh code to approve a payment.

These tests log in through the login page (client.post), not force_login, which skips both factors.
"""

import re
from base64 import b32decode

import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth.models import User
from django.urls import reverse
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from apps.core.models import ActionRun
from apps.hub.models import Company
from tests.core.action_doubles import PaySupplier, make_user
from tests.core.action_doubles import registered_actions  # noqa: F401
from tests.live_socket import LiveSocket, socket_headers
from tests.second_factor import code_for, device_for

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
PASSWORD = "Mot-de-passe-solide-42"


def with_password(username, *capabilities):
    user = make_user(username, *capabilities)
    user.set_password(PASSWORD)
    user.save()
    return user


def log_in(client, username, password=PASSWORD, address="10.0.0.1"):
    return client.post("/admin/login/?next=/admin/", {"username": username, "password": password},
                       REMOTE_ADDR=address)


# Throttling (django-axes) ---------------------------------------------------------------------------


def test_five_failures_lock_that_user_from_that_address_with_a_french_message(client, settings):
    with_password("lea", "view_console")
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert log_in(client, "lea", "mauvais").status_code == 200
    locked = log_in(client, "lea", "mauvais")

    assert locked.status_code == 429
    assert "Trop de tentatives de connexion échouées" in locked.content.decode()
    # Locked even with the right password, from that address...
    again = log_in(client, "lea")
    assert again.status_code == 429 and "_auth_user_id" not in client.session
    # ...but not for lea elsewhere, nor for someone else from the same address.
    with_password("paul", "view_console")
    assert log_in(client, "paul").status_code == 302
    client.logout()
    assert log_in(client, "lea", address="10.0.0.2").status_code == 302


def test_admins_see_the_lockouts_in_the_admin(client, settings):
    with_password("lea", "view_console")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        log_in(client, "lea", "mauvais")
    client.force_login(User.objects.create_superuser("admin", "admin@example.test", "x"))

    page = client.get("/admin/axes/accessattempt/")

    assert page.status_code == 200 and "lea" in page.content.decode() and "10.0.0.1" in page.content.decode()


def test_a_successful_login_resets_the_count(client, settings):
    with_password("lea", "view_console")
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        log_in(client, "lea", "mauvais")
    assert log_in(client, "lea").status_code == 302
    client.logout()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        log_in(client, "lea", "mauvais")
    assert log_in(client, "lea").status_code == 302


# Second factor --------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def no_code_throttle(settings):
    """django-otp makes a device wait 1 s, 2 s, 4 s... after each wrong code; these tests type the right one at once."""
    settings.OTP_TOTP_THROTTLE_FACTOR = 0


def test_wrong_codes_slow_down_the_next_attempts(client, settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 60
    user = with_password("lea", "view_console", "pay_suppliers")
    device_for(user)
    log_in(client, "lea")

    client.post(reverse("core:second_factor"), {"code": "000000"})
    blocked = client.post(reverse("core:second_factor"), {"code": code_for(user)})

    assert "Trop de codes incorrects" in blocked.content.decode()
    assert client.get("/admin/").status_code == 302


def test_people_who_cannot_move_money_log_in_with_their_password_alone(client):
    with_password("lea", "view_console", "send_documents")

    assert log_in(client, "lea").status_code == 302
    assert client.get("/admin/").status_code == 200


@pytest.mark.parametrize("capability", ["pay_suppliers", "approve_payments"])
def test_money_movers_without_a_device_enrol_one_before_anything_else(client, capability):
    user = with_password("lea", "view_console", capability)
    log_in(client, "lea")

    home = client.get("/admin/")
    assert home.status_code == 302 and home["Location"].startswith(reverse("core:second_factor"))
    enrolment = client.get(home["Location"], follow=True)
    page = enrolment.content.decode()
    assert enrolment.redirect_chain[-1][0].startswith(reverse("core:second_factor_enrol"))
    assert "<svg" in page and "Activer" in page
    secret = re.search(r'class="console-totp-secret">([A-Z2-7]+)<', page).group(1)

    wrong = client.post(reverse("core:second_factor_enrol"), {"code": "000000", "next": "/admin/"})
    assert wrong.status_code == 200 and "Code incorrect" in wrong.content.decode()
    code = f"{totp(b32decode(secret + '=' * (-len(secret) % 8))):06d}"
    done = client.post(reverse("core:second_factor_enrol"), {"code": code, "next": "/admin/"})

    assert done.status_code == 302 and done["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200
    assert TOTPDevice.objects.get(user=user).confirmed


def test_money_movers_with_a_device_give_its_code_after_the_password(client):
    user = with_password("lea", "view_console", "pay_suppliers")
    device_for(user)
    log_in(client, "lea")

    assert client.get("/admin/hub/supplierbill/").status_code == 302
    htmx = client.get(reverse("core:action_run", args=[1]), **HTMX)
    assert htmx.status_code == 204 and htmx["HX-Redirect"].startswith(reverse("core:second_factor"))
    form = client.get(reverse("core:second_factor"), {"next": "/admin/hub/supplierbill/"})
    assert form.status_code == 200 and "application d&#x27;authentification" in form.content.decode()

    wrong = client.post(reverse("core:second_factor"), {"code": "123456", "next": "/admin/hub/supplierbill/"})
    assert "Code incorrect ou déjà utilisé" in wrong.content.decode()
    code = code_for(user)
    right = client.post(reverse("core:second_factor"), {"code": code, "next": "/admin/hub/supplierbill/"})
    assert right.status_code == 302 and right["Location"] == "/admin/hub/supplierbill/"
    assert client.get("/admin/hub/supplierbill/").status_code == 200

    client.logout()
    log_in(client, "lea")
    replayed = client.post(reverse("core:second_factor"), {"code": code, "next": "/admin/"})
    assert "Code incorrect ou déjà utilisé" in replayed.content.decode()
    assert client.get("/admin/").status_code == 302


@pytest.mark.django_db(transaction=True)
def test_a_socket_waits_for_the_second_factor_too(client):
    user = with_password("lea", "view_console", "pay_suppliers")
    device_for(user)
    log_in(client, "lea")
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()

    def accepted():
        async def scenario():
            socket = LiveSocket("/ws/live/console/", socket_headers(cookie))
            connected, _ = await socket.connect(timeout=5)
            await socket.disconnect()
            return connected

        return async_to_sync(scenario)()

    assert not accepted()
    client.post(reverse("core:second_factor"), {"code": code_for(user), "next": "/admin/"})
    assert accepted()


# A fresh code to approve a payment above the threshold ---------------------------------------------


@pytest.mark.usefixtures("registered_actions")
def test_approving_a_payment_asks_for_a_fresh_code(client, django_capture_on_commit_callbacks):
    supplier = Company.objects.create(name="Gros fournisseur", is_supplier=True)
    requester = make_user("compta", "pay_suppliers", "view_console")
    run = ActionRun.objects.create(
        action=PaySupplier.key, label=PaySupplier.label, content_type_id=_company_type(), object_id=supplier.pk,
        user=requester, idempotency_key="a" * 32, status=ActionRun.Status.PENDING_APPROVAL,
    )
    approver = with_password("zoe", "view_console", "approve_payments")
    device_for(approver)
    log_in(client, "zoe")
    login_code = code_for(approver)
    client.post(reverse("core:second_factor"), {"code": login_code, "next": "/admin/"})
    approve_url = reverse("core:action_approve", args=[run.pk])

    status = client.get(reverse("core:action_run", args=[run.pk]), **HTMX).content.decode()
    assert 'name="otp_token"' in status and "every 5s" not in status

    for refused_code in ("", "12ab56", login_code):
        refused = client.post(approve_url, {"otp_token": refused_code}, **HTMX)
        assert refused.status_code == 403 and "Code de vérification incorrect" in refused.content.decode()
        run.refresh_from_db()
        assert run.status == ActionRun.Status.PENDING_APPROVAL

    with django_capture_on_commit_callbacks(execute=True):
        approved = client.post(approve_url, {"otp_token": code_for(approver, steps_ahead=1)}, **HTMX)
    assert approved.status_code == 200 and "Approuvé par zoe" in approved.content.decode()


def _company_type():
    from django.contrib.contenttypes.models import ContentType

    return ContentType.objects.get_for_model(Company).pk
