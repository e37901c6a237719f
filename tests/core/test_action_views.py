"""The action bar, its HTMX views and the admin list actions, as staff use them."""

import re

import django_rq
import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.contrib.contenttypes.models import ContentType
from django.urls import path, reverse
from rq import SimpleWorker

from apps.core import record_panels
from apps.core.admin.mixins import ContextualActionsAdmin
from apps.core.models import ActionRun, TimelineEntry
from apps.hub.models import Company
from config import urls as config_urls
from tests.core.action_doubles import PaySupplier, SendGreeting, make_user
from tests.core.action_doubles import client_company, registered_actions  # noqa: F401
from tests.second_factor import code_for

pytestmark = pytest.mark.usefixtures("registered_actions")

HTMX = {"HTTP_HX_REQUEST": "true"}


class CompanyAdmin(ContextualActionsAdmin, admin.ModelAdmin):
    pass


test_site = admin.AdminSite(name="kernelui_admin")
test_site.register(Company, CompanyAdmin)
urlpatterns = [path("test-admin/", test_site.urls), *config_urls.urlpatterns]


def target(company):
    return {"content_type_id": ContentType.objects.get_for_model(Company).pk, "object_id": company.pk}


def start_url(action, company):
    return reverse("core:action_start", kwargs={"key": action.key, **target(company)})


def work_default_queue():
    queue = django_rq.get_queue("default")
    SimpleWorker([queue], connection=queue.connection).work(burst=True)


@pytest.fixture
def empty_default_queue(redis_connection):
    django_rq.get_queue("default").empty()


@pytest.fixture
def lea(client):
    user = make_user("lea", "send_emails", "pay_suppliers", "view_console")
    client.force_login(user)
    return user


def allow_company_admin(user):
    user.user_permissions.add(*Permission.objects.filter(codename__in=["view_company", "change_company"]))


def render_bar(client, company):
    response = client.get(reverse("core:action_bar", kwargs=target(company)), **HTMX)
    assert response.status_code == 200
    return response.content.decode()


def render_record_page_bar(user, company):
    """The bar as a record page renders it: `{% action_bar obj %}` in a full (non-HTMX) page."""
    from django.template import engines
    from django.test import RequestFactory

    request = RequestFactory().get(f"/admin/hub/company/{company.pk}/change/")
    request.user, request.htmx = user, False
    template = engines["django"].from_string("{% load console_actions %}{% action_bar obj %}")
    return template.render({"obj": company}, request)


def test_the_bar_offers_each_action_with_its_own_fresh_key(client, lea, client_company):
    html = render_bar(client, client_company)

    assert f'hx-post="{start_url(SendGreeting, client_company)}"' in html
    assert "Envoyer un bonjour" in html and "Payer le fournisseur" in html
    keys = re.findall(r'name="key" value="([0-9a-f]{32})"', html)
    assert keys and keys[0] not in render_bar(client, client_company)
    assert "csrfmiddlewaretoken" in html


def test_an_action_the_user_may_not_run_is_not_shown_at_all(client, client_company):
    client.force_login(make_user("marc", "pay_suppliers"))
    html = render_bar(client, client_company)

    assert "Envoyer un bonjour" not in html
    assert "Payer le fournisseur" in html


def test_an_action_unavailable_in_this_state_is_disabled_with_its_reason(client, lea):
    supplier_only = Company.objects.create(name="Fournisseur seul", is_client=False, is_supplier=True)
    client.force_login(lea)
    html = render_bar(client, supplier_only)

    # The reason is visible text next to the button, not only a tooltip.
    assert re.search(r'<button type="button" class="button" disabled[^>]*>Envoyer un bonjour</button>\s*'
                     r'<span [^>]*class="console-action-reason">Action non applicable dans l&#x27;état actuel.</span>',
                     html)


def test_a_run_waiting_for_approval_offers_approve_to_an_approver_opening_the_record(client):
    from apps.core import actions

    big = Company.objects.create(name="Gros fournisseur", iban="FR7630006000011234567890189")
    requester = make_user("compta", "pay_suppliers")
    run, _ = actions.start(actions.get(PaySupplier.key), big, requester, "k-approval")
    assert run.status == ActionRun.Status.PENDING_APPROVAL

    html = render_record_page_bar(make_user("treso", "approve_payments"), big)
    assert f'id="action-run-{run.pk}"' in html
    assert reverse("core:action_approve", args=[run.pk]) in html and "Approuver" in html

    html = render_record_page_bar(requester, big)
    assert f'id="action-run-{run.pk}"' in html
    assert reverse("core:action_approve", args=[run.pk]) not in html
    assert "Un autre utilisateur habilité doit approuver cette demande." in html


def test_a_record_page_shows_its_own_runs_not_those_of_another_kind_of_record_with_the_same_number(client):
    from apps.core import actions
    from apps.hub.models import Contact

    big = Company.objects.create(name="Gros fournisseur", iban="FR7630006000011234567890189")
    requester = make_user("compta", "pay_suppliers")
    own, _ = actions.start(actions.get(PaySupplier.key), big, requester, "k-own")
    # Held on the contact that bears the same number: contacts are numbered apart from companies.
    elsewhere = ActionRun.objects.create(
        action=PaySupplier.key, label="Payer le fournisseur", user=requester, idempotency_key="k-contact",
        content_type=ContentType.objects.get_for_model(Contact), object_id=str(big.pk),
        status=ActionRun.Status.PENDING_APPROVAL)

    html = render_record_page_bar(make_user("treso", "approve_payments"), big)

    assert f'id="action-run-{own.pk}"' in html
    assert f'id="action-run-{elsewhere.pk}"' not in html


def test_a_double_post_with_the_same_key_runs_once(client, lea, client_company, django_capture_on_commit_callbacks,
                                                   empty_default_queue):
    url = start_url(SendGreeting, client_company)
    with django_capture_on_commit_callbacks(execute=True):
        first = client.post(url, {"key": "a" * 32}, **HTMX)
        second = client.post(url, {"key": "a" * 32}, **HTMX)
    work_default_queue()

    assert first.status_code == second.status_code == 200
    assert "Action « Envoyer un bonjour » lancée." in first.content.decode()
    assert "Action « Envoyer un bonjour » déjà demandée : aucune nouvelle exécution." in second.content.decode()
    assert ActionRun.objects.count() == 1
    assert SendGreeting.calls == [client_company.pk]

    run = ActionRun.objects.get()
    status = client.get(reverse("core:action_run", args=[run.pk]), **HTMX).content.decode()
    assert "Réussie" in status and "Bonjour envoyé à Atelier Dupont" in status
    assert "every 1s" not in status


def test_a_running_run_polls_until_it_ends(client, lea, client_company):
    client.post(start_url(SendGreeting, client_company), {"key": "b" * 32}, **HTMX)
    run = ActionRun.objects.get()

    html = client.get(reverse("core:action_run", args=[run.pk]), **HTMX).content.decode()

    assert 'hx-trigger="every 1s"' in html and f'id="action-run-{run.pk}"' in html


def test_a_forged_post_without_the_permission_is_refused_in_french(client, client_company):
    client.force_login(make_user("marc", "view_console"))

    response = client.post(start_url(SendGreeting, client_company), {"key": "c" * 32}, **HTMX)

    assert response.status_code == 403
    assert "Vous n&#x27;avez pas la permission requise." in response.content.decode()
    assert response["X-Console-Error"] == "1"
    assert not ActionRun.objects.exists()


def test_non_staff_users_are_refused(client, client_company):
    client.force_login(make_user("visiteur", "send_emails", is_staff=False))

    response = client.post(start_url(SendGreeting, client_company), {"key": "d" * 32}, **HTMX)

    assert response.status_code == 403 and not ActionRun.objects.exists()


def test_unknown_action_or_record_is_a_french_404(client, lea, client_company):
    unknown_action = reverse("core:action_start", kwargs={"key": "nope.nothing", **target(client_company)})
    unknown_record = reverse(
        "core:action_start", kwargs={"key": SendGreeting.key, **target(client_company), "object_id": 999999}
    )

    for url in (unknown_action, unknown_record):
        response = client.post(url, {"key": "e" * 32}, **HTMX)
        assert response.status_code == 404
        assert "Action ou dossier introuvable." in response.content.decode()


def test_the_start_view_only_accepts_post(client, lea, client_company):
    assert client.get(start_url(SendGreeting, client_company)).status_code == 405


def test_a_confirmed_action_shows_its_details_first_and_only_the_confirm_post_starts_it(client, lea, client_company):
    confirm_url = reverse("core:action_confirm", kwargs={"key": PaySupplier.key, **target(client_company)})
    page = client.get(confirm_url, {"key": "f" * 32}, **HTMX).content.decode()

    assert "Le virement part immédiatement." in page
    assert "Bénéficiaire" in page and "Atelier Dupont" in page and "FR7630006000011234567890189" in page
    assert "Confirmer" in page and "Annuler" in page
    assert 'name="confirmed" value="yes"' in page and 'value="' + "f" * 32 + '"' in page

    skipped_confirmation = client.post(start_url(PaySupplier, client_company), {"key": "f" * 32}, **HTMX)
    assert "Le virement part immédiatement." in skipped_confirmation.content.decode()
    assert not ActionRun.objects.exists()

    confirmed = client.post(start_url(PaySupplier, client_company), {"key": "f" * 32, "confirmed": "yes"}, **HTMX)
    assert confirmed.status_code == 200
    assert ActionRun.objects.get().action == PaySupplier.key


def test_approval_from_the_run_page(client, django_capture_on_commit_callbacks, empty_default_queue):
    supplier = Company.objects.create(name="Gros fournisseur", is_client=False)
    requester = make_user("lea", "pay_suppliers", "approve_payments", "view_console")
    clerk = make_user("paul", "pay_suppliers", "view_console")
    approver = make_user("zoe", "approve_payments", "view_console")
    client.force_login(requester)
    client.post(start_url(PaySupplier, supplier), {"key": "g" * 32, "confirmed": "yes"}, **HTMX)
    run = ActionRun.objects.get()
    status_url = reverse("core:action_run", args=[run.pk])
    approve_url = reverse("core:action_approve", args=[run.pk])

    assert "Approuver" not in client.get(status_url, **HTMX).content.decode()
    refused = client.post(approve_url, **HTMX)
    assert refused.status_code == 403 and "autre utilisateur" in refused.content.decode()

    client.force_login(clerk)
    assert "Approuver" not in client.get(status_url, **HTMX).content.decode()
    assert client.post(approve_url, **HTMX).status_code == 403

    client.force_login(approver)
    assert f'hx-post="{approve_url}"' in client.get(status_url, **HTMX).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        approved = client.post(approve_url, {"otp_token": code_for(approver)}, **HTMX)
    work_default_queue()

    assert approved.status_code == 200
    run.refresh_from_db()
    assert run.status == ActionRun.Status.SUCCEEDED and PaySupplier.calls == [supplier.pk]


def test_without_htmx_a_start_redirects_back_with_a_message(client, lea, client_company):
    response = client.post(
        start_url(SendGreeting, client_company), {"key": "h" * 32, "next": "/admin/"}, follow=False
    )

    assert response.status_code == 302 and response["Location"] == "/admin/"
    assert ActionRun.objects.count() == 1
    assert [str(m) for m in get_messages(response.wsgi_request)] == ["Action « Envoyer un bonjour » lancée."]


@pytest.mark.urls(__name__)
def test_the_admin_change_form_shows_bar_panels_and_timeline(client, lea, client_company):
    allow_company_admin(lea)
    panel = record_panels.RecordPanel(
        "Invoice Ninja (test)", "core/actions/error.html", lambda obj, user: {"message": f"Lié : {obj.name}"}
    )
    hidden = record_panels.RecordPanel("Caché", "core/actions/error.html", lambda obj, user: None)
    record_panels.register(Company, panel)
    record_panels.register(Company, hidden)
    TimelineEntry.record(client_company, "Devis signé", provider="docuseal", external_ids={"submission": "S-9"})
    try:
        html = client.get(reverse("kernelui_admin:hub_company_change", args=[client_company.pk])).content.decode()
    finally:
        record_panels._panels[Company].remove(panel)
        record_panels._panels[Company].remove(hidden)

    assert "Envoyer un bonjour" in html and f'ws-connect="/ws/live/actions.{target(client_company)["content_type_id"]}.' in html
    assert "Invoice Ninja (test)" in html and "Lié : Atelier Dupont" in html and "Caché" not in html
    timeline = html.split('class="module console-timeline"', 1)[1]
    # The provider's label when its app is installed (apps/docuseal), its key otherwise.
    assert "Devis signé" in timeline and "S-9" in timeline and "docuseal" in timeline.lower()


@pytest.mark.urls(__name__)
def test_admin_list_actions_start_one_run_per_object(client, lea, client_company):
    supplier = Company.objects.create(name="Autre", is_client=False)
    changelist = reverse("kernelui_admin:hub_company_changelist")
    allow_company_admin(lea)

    response = client.post(changelist, {"action": f"contextual:{SendGreeting.key}",
                                        "_selected_action": [client_company.pk, supplier.pk]}, follow=True)

    assert ActionRun.objects.filter(object_id=str(client_company.pk)).count() == 1
    assert not ActionRun.objects.filter(object_id=str(supplier.pk)).exists()
    messages = [str(m) for m in response.context["messages"]]
    assert "« Atelier Dupont » : Envoyer un bonjour lancée." in messages
    assert "« Autre » : Action non applicable dans l'état actuel." in messages


@pytest.mark.urls(__name__)
def test_admin_list_actions_that_confirm_show_an_intermediate_page(client, lea, client_company):
    changelist = reverse("kernelui_admin:hub_company_changelist")
    allow_company_admin(lea)
    choose = {"action": f"contextual:{PaySupplier.key}", "_selected_action": [client_company.pk]}

    page = client.post(changelist, choose)

    html = page.content.decode()
    assert page.status_code == 200 and "Le virement part immédiatement." in html and 'name="post" value="yes"' in html
    assert not ActionRun.objects.exists()
    key = re.search(rf'name="key_{client_company.pk}" value="([0-9a-f]+)"', html).group(1)

    for _ in range(2):  # the confirmation submitted twice still pays once
        client.post(changelist, {**choose, "post": "yes", f"key_{client_company.pk}": key})
    assert ActionRun.objects.get().idempotency_key == key


def timeline_rows(html: str) -> list[list[str]]:
    """The timeline's rows as the text of their cells (tags dropped), hrefs kept as "[href]"."""
    table = html.split('class="module console-timeline"', 1)[1].split("</table>", 1)[0]
    rows = []
    for row in table.split("<tr class=\"console-timeline-")[1:]:
        cells = re.findall(r"<td>(.*?)</td>", row, flags=re.S)
        rows.append([" ".join(re.sub(r'<a href="([^"]+)">', r"[\1] ", re.sub(r"<(?!a )[^>]+>", " ", cell))
                              .replace("</a>", "").split()) for cell in cells])
    return rows


@pytest.mark.urls(__name__)
def test_the_timeline_says_automatique_with_its_cause_for_what_nobody_clicked(client, lea, client_company):
    from apps.core.models import Connection, WebhookEvent

    allow_company_admin(lea)
    connection = Connection.objects.create(provider="docuseal", name="DocuSeal", slug="ds")
    event = WebhookEvent.objects.create(connection=connection, provider="docuseal",
                                        event_type="submission.completed", body=b"{}")
    content_type = ContentType.objects.get_for_model(Company)
    ActionRun.objects.create(action=SendGreeting.key, label="Envoyer un bonjour", content_type=content_type,
                             object_id=str(client_company.pk), user=None, idempotency_key="auto-1",
                             status=ActionRun.Status.SUCCEEDED, message="Bonjour envoyé.",
                             external_ids={"cause": "signature reçue", "cause_event": event.pk})
    ActionRun.objects.create(action=SendGreeting.key, label="Envoyer un bonjour", content_type=content_type,
                             object_id=str(client_company.pk), user=lea, idempotency_key="click-1",
                             status=ActionRun.Status.SUCCEEDED, message="Bonjour envoyé.")
    TimelineEntry.record(client_company, "Automatisation déclenchée.", provider=TimelineEntry.AUTOMATIC,
                         webhook_event=event, external_ids={"cause": "signature reçue"})

    html = client.get(reverse("kernelui_admin:hub_company_change", args=[client_company.pk])).content.decode()

    event_url = reverse("admin:core_webhookevent_change", args=[event.pk])
    by = {(row[2].split(" Bonjour")[0], row[1].split(" Cause")[0]): row for row in timeline_rows(html)}
    assert ("Envoyer un bonjour", "lea") in by
    automatic_run = by[("Envoyer un bonjour", "Automatique")]
    assert automatic_run[1] == f"Automatique Cause : [{event_url}] signature reçue"
    assert "signature reçue" not in automatic_run[4]  # a cause, not an identifier
    assert by[("Automatisation déclenchée.", "Automatique")][1] == f"Automatique Cause : [{event_url}] signature reçue"
