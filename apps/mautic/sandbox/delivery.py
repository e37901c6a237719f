"""Signed webhook deliveries, as Mautic 5.1.1 sends them (NOTES §4).

Events go to every published webhook whose triggers include them, as
`{"<type>": [ {...payload, "timestamp": ISO} ]}`, JSON written like PHP's json_encode (`/` escaped as `\\/`,
non-ASCII as `\\uXXXX`), signed `Webhook-Signature: base64(HMAC-SHA256(secret, body))`.
`immediate_process`: one event per request, right after the triggering change. `command_process`: queued,
and `process_queue()` (the cron's `mautic:webhooks:process`, a button on the sandbox page) sends batches of
`webhook_limit` events, possibly of several types. No retry: the queued rows are deleted once the receiver
answered, whatever the status; a 410 unpublishes the webhook; only a transport error keeps them queued.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import threading

import requests
from django.db import close_old_connections, transaction

from apps.mautic.sandbox import records
from apps.mautic.sandbox.state import SandboxInstance

logger = logging.getLogger(__name__)

# Tests switch this off to deliver synchronously, right after the transaction commits.
DELIVER_IN_BACKGROUND = True
TIMEOUT = 10


def php_json(value) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=True).replace("/", "\\/").encode()


def signature(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def queue_event(inst: SandboxInstance, event_type: str, payload: dict) -> None:
    """Queue `event_type` for every subscribed webhook; immediate mode sends after commit."""
    queued = []
    for hook in records.objects(inst, "hook"):
        if hook.data.get("isPublished", True) and event_type in hook.data.get("triggers", []):
            row = records.create(inst, "queue", {"hook_id": hook.pk, "event_type": event_type, "payload": payload})
            queued.append(row.pk)
    if queued and inst.queue_mode == "immediate_process":
        transaction.on_commit(lambda: _dispatch(inst.pk, queued))


def _dispatch(instance_id, queue_ids):
    if DELIVER_IN_BACKGROUND:
        threading.Thread(target=_in_thread, args=(instance_id, queue_ids), daemon=True).start()
    else:
        send_rows(instance_id, queue_ids, one_per_request=True)


def _in_thread(instance_id, queue_ids):
    try:
        send_rows(instance_id, queue_ids, one_per_request=True)
    finally:
        close_old_connections()


def process_queue(inst: SandboxInstance | None = None) -> list[int | None]:
    inst = inst or records.instance()
    ids = list(records.objects(inst, "queue").order_by("pk").values_list("pk", flat=True))
    return send_rows(inst.pk, ids, one_per_request=False)


def send_rows(instance_id, queue_ids, *, one_per_request: bool) -> list[int | None]:
    inst = SandboxInstance.objects.get(pk=instance_id)
    rows = list(records.objects(inst, "queue").filter(pk__in=queue_ids).order_by("pk"))
    statuses = []
    by_hook: dict[int, list] = {}
    for row in rows:
        by_hook.setdefault(row.data["hook_id"], []).append(row)
    for hook_id, hook_rows in by_hook.items():
        hook = records.get(inst, "hook", hook_id)
        if hook is None:
            continue
        size = 1 if one_per_request else max(1, inst.webhook_limit)
        for start in range(0, len(hook_rows), size):
            batch = hook_rows[start:start + size]
            statuses.append(post(hook, batch))
    return statuses


def post(hook, batch) -> int | None:
    body_object: dict[str, list] = {}
    for row in batch:
        body_object.setdefault(row.data["event_type"], []).append(
            {**row.data["payload"], "timestamp": records.iso(row.date_added)})
    body = php_json(body_object)
    headers = {"Content-Type": "application/json", "X-Origin-Base-URL": "https://mautic.sandbox",
               "Webhook-Signature": signature(hook.data["secret"], body)}
    try:
        answer = requests.post(hook.data["webhookUrl"], data=body, headers=headers, timeout=TIMEOUT)
    except requests.RequestException as exc:
        logger.info("Sandbox Mautic : webhook vers %s en échec : %s", hook.data["webhookUrl"], exc)
        return None  # rows stay queued: sent again at the next processing
    records.objects(hook.instance, "queue").filter(pk__in=[row.pk for row in batch]).delete()
    if answer.status_code == 410:
        records.touch(hook, isPublished=False)
    return answer.status_code
