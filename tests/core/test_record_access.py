"""A record's page, its action fragments and its live socket answer the same people.

The admin change form of a hub record (the record's page) is open to active staff holding the model's
view or change permission; the action bar, the confirmation step, a run's status, the approval and the
socket `/ws/live/actions.<content type>.<pk>/` (which pushes the record's timeline: payment state,
request ids) follow that same rule, decided by one function.
"""

import pytest
from django.contrib.auth.models import User
from django.contrib.contenttypes.models import ContentType
from django.urls import reverse

from apps.core.models import ActionRun
from apps.hub.models import Company
from tests.core.action_doubles import PaySupplier, SendGreeting, make_user
from tests.core.action_doubles import registered_actions  # noqa: F401
from tests.core.test_live_socket import accepted, session_cookie

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("registered_actions")]

HTMX = {"HTTP_HX_REQUEST": "true"}


def company_type() -> int:
    return ContentType.objects.get_for_model(Company).pk


@pytest.fixture
def company():
    return Company.objects.create(name="Gros fournisseur", is_supplier=True, iban="FR7630006000011234567890189")


@pytest.fixture
def pending_run(company):
    requester = make_user("compta", "pay_suppliers", "view_console")
    return ActionRun.objects.create(
        action=PaySupplier.key, label=PaySupplier.label, content_type_id=company_type(), object_id=company.pk,
        user=requester, idempotency_key="p" * 32, status=ActionRun.Status.PENDING_APPROVAL,
        message="En attente d'un second approbateur.", external_ids={"request_id": "REQ-42"},
    )


def what_they_get(client, user, company, run):
    """The status each door answers this user with (the socket: accepted or not)."""
    kwargs = {"content_type_id": company_type(), "object_id": company.pk}
    cookie = session_cookie(client, user)
    return {
        "page": client.get(f"/admin/hub/company/{company.pk}/change/").status_code,
        "bar": client.get(reverse("core:action_bar", kwargs=kwargs), **HTMX).status_code,
        "confirm": client.get(
            reverse("core:action_confirm", kwargs={"key": PaySupplier.key, **kwargs}), **HTMX
        ).status_code,
        "run": client.get(reverse("core:action_run", args=[run.pk]), **HTMX).status_code,
        "socket": accepted(f"/ws/live/actions.{company_type()}.{company.pk}/", cookie),
    }


def test_staff_without_a_group_is_refused_by_the_page_the_fragments_and_the_socket(client, company, pending_run):
    stranger = make_user("stagiaire")

    doors = what_they_get(client, stranger, company, pending_run)

    assert doors == {"page": 403, "bar": 403, "confirm": 403, "run": 404, "socket": False}


def test_an_approver_without_the_record_cannot_read_or_approve_its_run(client, company, pending_run):
    approver = make_user("treso", "approve_payments")  # may approve payments, may not open companies

    doors = what_they_get(client, approver, company, pending_run)
    approval = client.post(reverse("core:action_approve", args=[pending_run.pk]), **HTMX)

    assert doors == {"page": 403, "bar": 403, "confirm": 403, "run": 404, "socket": False}
    assert approval.status_code == 404 and "REQ-42" not in approval.content.decode()
    pending_run.refresh_from_db()
    assert pending_run.status == ActionRun.Status.PENDING_APPROVAL


def test_whoever_may_open_the_record_gets_every_door(client, company, pending_run):
    viewer = make_user("lea", "view_console", "pay_suppliers")

    doors = what_they_get(client, viewer, company, pending_run)

    assert doors == {"page": 200, "bar": 200, "confirm": 200, "run": 200, "socket": True}


def test_a_superuser_gets_every_door(client, company, pending_run):
    admin = User.objects.create_superuser("admin", "admin@example.test", "x")

    assert what_they_get(client, admin, company, pending_run) == {
        "page": 200, "bar": 200, "confirm": 200, "run": 200, "socket": True,
    }


def test_a_socket_for_a_record_type_that_does_not_exist_is_refused(client):
    cookie = session_cookie(client, User.objects.create_superuser("admin", "admin@example.test", "x"))

    assert not accepted("/ws/live/actions.999999.1/", cookie)
    assert not accepted("/ws/live/actions.abc.1/", cookie)
    assert accepted(f"/ws/live/actions.{company_type()}.1/", cookie)
