"""Scale-out: two web processes and two workers on one database and one Redis.

A burst of Mautic deliveries, each sent twice (once to each web process, as a vendor retrying through a load
balancer would), is stored once per event and processed exactly once; a browser socket held by one web process
receives the live row of a webhook posted to the other and processed by whichever worker took it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.e2e.processes import BASE_DIR, ServiceProcess, answers_ok, free_port, rq_worker_count

SECRET = "whsec-scale-out-0123456789"
BURST = 30


def start_extra(console, name: str, command: list[str]) -> ServiceProcess:
    log_path = console.log_dir / f"{name}.log"
    with open(log_path, "w") as log:
        popen = subprocess.Popen(command, cwd=BASE_DIR, env=console.env, stdout=log, stderr=subprocess.STDOUT,
                                 start_new_session=True)
    return ServiceProcess(name, popen, log_path)


def wait_for(condition, *, timeout: float, failure: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.3)
    pytest.fail(failure, pytrace=False)


def delivery(contact_id: int) -> bytes:
    return json.dumps({"mautic.lead_post_delete": [{"id": contact_id, "contact": {"id": None},
                                                    "timestamp": "2026-12-03T10:00:00+00:00"}]}).encode()


def post(url: str, body: bytes) -> int:
    signature = base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest()).decode()
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": "application/json", "Webhook-Signature": signature})
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status


@pytest.fixture
def second_web_and_worker(console, request):
    port = free_port()
    suffix = request.node.name.removeprefix("test_")[:24]
    web = start_extra(console, f"web-2-{suffix}", [sys.executable, "-m", "uvicorn", "config.asgi:application",
                                         "--host", "127.0.0.1", "--port", str(port), "--lifespan", "off"])
    worker = start_extra(console, f"worker-2-{suffix}",
                         [sys.executable, "manage.py", "rqworker", "webhooks", "sync", "default"])
    try:
        redis_url = console.env["REDIS_URL"]
        wait_for(lambda: answers_ok(f"http://127.0.0.1:{port}/healthz") and rq_worker_count(redis_url) >= 2,
                 timeout=60,
                 failure=f"second web process or worker did not start:\n{web.log_tail()}\n{worker.log_tail()}")
        request.node.extra_logs = (web.log_path, worker.log_path)
        yield f"http://127.0.0.1:{port}"
    finally:
        worker.stop()
        web.stop()


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_burst_through_two_web_processes_and_two_workers_is_processed_once(console, second_web_and_worker, request):
    from apps.core.models import Connection, WebhookEvent

    mautic = Connection.objects.create(provider="mautic", name="Mautic", slug="mautic-scale",
                                       base_url="https://mautic.example.test", webhook_secrets=[SECRET])
    targets = [console.url + mautic.webhook_path(), second_web_and_worker + mautic.webhook_path()]
    bodies = [delivery(1000 + index) for index in range(BURST)]
    sends = [(targets[(index + copy) % 2], body) for index, body in enumerate(bodies) for copy in range(2)]

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(lambda send: post(*send), sends))
    assert set(statuses) == {200}, statuses

    def settled():
        return not WebhookEvent.objects.filter(connection=mautic, status__in=["received", "queued", "processing"]
                                               ).exists()

    wait_for(settled, timeout=90, failure="the burst was not processed in 90 s")
    originals = WebhookEvent.objects.filter(connection=mautic).exclude(status="duplicate")
    assert originals.count() == BURST
    assert set(originals.values_list("status", flat=True)) == {"processed"}
    assert set(originals.values_list("attempts", flat=True)) == {1}, "an event was processed more than once"
    assert WebhookEvent.objects.filter(connection=mautic, status="duplicate").count() == BURST
    # Both workers took part (their job lines, apps/operations/logs.py), so "once" held across processes.
    job_line = "func=apps.core.webhooks.processing.process_event"
    _, second_worker_log = request.node.extra_logs
    first_worker_log = console.log_dir / "worker.log"
    taken = [path.read_text().count(job_line) for path in (first_worker_log, second_worker_log)]
    assert all(taken), f"jobs taken by each worker: {taken}"


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_live_page_on_one_web_process_is_fed_by_a_webhook_posted_to_the_other(console, second_web_and_worker):
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.test import Client
    from websockets.sync.client import connect

    from apps.core.capabilities import group_name
    from apps.core.models import Connection, WebhookEvent

    mautic = Connection.objects.create(provider="mautic", name="Mautic", slug="mautic-live",
                                       base_url="https://mautic.example.test", webhook_secrets=[SECRET])
    viewer = get_user_model().objects.create_user("lecteur", is_staff=True)
    viewer.groups.add(Group.objects.get(name=group_name("view_console")))
    browser = Client()
    browser.force_login(viewer)
    session = browser.cookies["sessionid"].value

    socket_url = second_web_and_worker.replace("http://", "ws://") + "/ws/live/console.webhooks/"
    with connect(socket_url, additional_headers={"Cookie": f"sessionid={session}",
                                                 "Origin": second_web_and_worker}, open_timeout=10) as socket:
        time.sleep(0.5)  # the consumer joins its group after accepting
        assert post(console.url + mautic.webhook_path(), delivery(4242)) == 200
        event = WebhookEvent.objects.get(connection=mautic)
        received = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not any("Traité" in message for message in received):
            try:
                received.append(socket.recv(timeout=max(0.1, deadline - time.monotonic())))
            except TimeoutError:
                break
    assert any(f'id="webhook-feed-{event.pk}"' in message for message in received), received
    assert any("Traité" in message for message in received), received
