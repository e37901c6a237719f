"""Every request the console sends to Mautic matches a route of Mautic 5.1.1 (method and path).

The flows below drive every client call through the emulator; each request is checked against the route
list copied in tests/contracts/mautic/ (SOURCE.md). `{id}` and `{...Id}` parameters are digits only.
"""

from __future__ import annotations

import json
import re

import pytest

from apps.core import actions
from apps.hub.models import Invoice
from apps.mautic import jobs
from apps.mautic.client import MauticClient
from apps.mautic.sync import record_remote
from tests.mautic.conftest import CONTRACTS, SENT, run_jobs

PREFIX = "/sandbox/mautic"


def route_patterns() -> list[tuple[str, re.Pattern]]:
    routes = json.loads((CONTRACTS / "mautic-5.1.1-api-routes.json").read_text())["routes"]
    patterns = []
    for route in routes:
        regex = re.sub(r"\\\{[A-Za-z]*(?:id|Id)\\\}", r"\\d+", re.escape(route["path"]))
        regex = re.sub(r"\\\{[A-Za-z_]+\\\}", r"[^/]+", regex)
        for method in route["method"].split("|"):
            patterns.append((method.upper(), re.compile(f"^{regex}$")))
    return patterns


def matches(method: str, path: str, patterns) -> bool:
    return any(m == method and p.match(path) for m, p in patterns)


def test_route_list_itself_knows_the_5x_forms_and_not_the_2x_ones():
    patterns = route_patterns()
    assert matches("POST", "/api/emails/3/contact/7/send", patterns)
    assert matches("POST", "/api/contacts/7/dnc/email/add", patterns)
    assert not matches("POST", "/api/emails/3/send/contact/7", patterns)  # removed in 3.0 (NOTES §3.4)
    assert not matches("POST", "/api/contacts/7/dnc/add/email", patterns)


def test_every_request_of_the_console_is_a_mautic_511_route(connection, overdue, accountant,
                                                            django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        actions.start(actions.get("mautic.send_reminder"), overdue, accountant, "contract-key")
    for _round in range(3):
        with django_capture_on_commit_callbacks(execute=True):
            run_jobs("default", "webhooks")
    client = MauticClient(connection)
    contact_id = client.list_contacts().contacts[0]["id"]
    client.find_contact_by_email("paul@boulangerie.example")
    client.add_do_not_contact(contact_id, reason=3)
    client.contact_activity(contact_id, date_from="2024-01-01 00:00:00")
    client.list_emails()
    record_remote(connection, client.get_contact(contact_id))
    jobs.reconcile_activity()
    Invoice.objects.filter(pk=overdue.pk).update(status=Invoice.Status.PAID)
    jobs.sync_company_segments(overdue.company_id)

    patterns = route_patterns()
    api_calls = [(m, p[len(PREFIX):]) for m, p in SENT if p.startswith(PREFIX + "/api/")]
    assert len({p for _m, p in api_calls}) >= 10
    unknown = [(m, p) for m, p in api_calls if not matches(m, p, patterns)]
    assert unknown == []
    oauth_or_other = [p for _m, p in SENT if p.startswith(PREFIX) and not p.startswith(PREFIX + "/api/")]
    assert oauth_or_other == []  # Basic auth: no token endpoint call
    called = {m + " " + re.sub(r"\d+", "N", p) for m, p in api_calls}
    for expected in ("POST /api/contacts/new", "POST /api/emails/N/contact/N/send", "POST /api/hooks/new",
                     "POST /api/segments/N/contact/N/add", "POST /api/segments/N/contact/N/remove",
                     "GET /api/contacts/N/activity"):
        assert expected in called, called


@pytest.mark.parametrize("sample", sorted(p.name for p in (CONTRACTS / "webhook-sample-payloads").glob("*.json")))
def test_vendor_sample_payloads_parse(sample):
    from apps.mautic.webhooks import parse

    payload = json.loads((CONTRACTS / "webhook-sample-payloads" / sample).read_text())
    events = parse(json.dumps({"mautic." + sample[:-5]: payload}).encode())
    assert events and all(t == "mautic." + sample[:-5] for t, _p in events)
