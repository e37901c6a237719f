from datetime import timedelta

import pytest
from django.db import connection as db
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from apps.core.models import ApiCall, Connection

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:core_apicall_changelist")


@pytest.fixture
def calls():
    main = Connection.objects.create(provider="invoiceninja", name="Ninja", slug="ninja")
    other = Connection.objects.create(provider="revolut", name="Banque", slug="banque")
    rows = {
        "ok": ApiCall.objects.create(connection=main, method="GET", url="https://n.test/api/v1/clients", status_code=200),
        "missing": ApiCall.objects.create(connection=main, method="GET", url="https://n.test/api/v1/quotes/9",
                                          status_code=404, error="Not found"),
        "server": ApiCall.objects.create(connection=other, method="POST", url="https://b.test/pay",
                                         status_code=503, error="HTTP 503"),
        "network": ApiCall.objects.create(connection=other, method="GET", url="https://b.test/accounts",
                                          error="Service injoignable (ConnectTimeout)"),
        "old": ApiCall.objects.create(connection=main, method="GET", url="https://n.test/api/v1/old",
                                      status_code=200),
    }
    ApiCall.objects.filter(pk=rows["old"].pk).update(created_at=timezone.now() - timedelta(days=40))
    return main, other, rows


def listed(client, **params):
    html = client.get(CHANGELIST, params).content.decode()
    paths = ("n.test/api/v1/clients", "n.test/api/v1/quotes/9", "b.test/pay", "b.test/accounts", "n.test/api/v1/old")
    return {path.split("/", 1)[1] for path in paths if f"https://{path}<" in html}


def test_filters_by_status_class(admin_client, calls):
    assert listed(admin_client, statut="2xx") == {"api/v1/clients", "api/v1/old"}
    assert listed(admin_client, statut="4xx") == {"api/v1/quotes/9"}
    assert listed(admin_client, statut="5xx") == {"pay"}
    assert listed(admin_client, statut="reseau") == {"accounts"}


def test_filters_by_connection_and_date(admin_client, calls):
    main, other, _ = calls
    assert listed(admin_client, connection__id__exact=other.pk) == {"pay", "accounts"}
    since = (timezone.now() - timedelta(days=7)).isoformat()
    assert "api/v1/old" not in listed(admin_client, created_at__gte=since)
    assert "api/v1/old" in listed(admin_client)


def test_is_read_only(admin_client, calls):
    _, _, rows = calls
    assert admin_client.get(reverse("admin:core_apicall_add")).status_code == 403
    detail = admin_client.get(reverse("admin:core_apicall_change", args=[rows["server"].pk]))
    assert detail.status_code == 200
    assert 'name="_save"' not in detail.content.decode()
    response = admin_client.post(reverse("admin:core_apicall_change", args=[rows["server"].pk]), {"method": "PUT"})
    assert response.status_code == 403
    assert admin_client.get(reverse("admin:core_apicall_delete", args=[rows["server"].pk])).status_code == 403
    html = admin_client.get(CHANGELIST).content.decode()
    assert "delete_selected" not in html


def test_the_list_never_counts_the_whole_table(admin_client, calls):
    with CaptureQueriesContext(db) as captured:
        admin_client.get(CHANGELIST, {"statut": "2xx"})
    counts = [q["sql"] for q in captured if "COUNT(" in q["sql"].upper() and "core_apicall" in q["sql"]]
    assert counts and all("WHERE" in sql.upper() for sql in counts)
