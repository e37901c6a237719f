"""The emulator's Flow: an Event Hook (action, non-blocking) on item changes -> "Webhook / Request URL".

NOTES §4: one run per item, even for a batch request; the operation sends the configured method, URL and
headers (`{{$env.NAME}}` resolved from the project's env, as with FLOWS_ENV_ALLOW_LIST) and the body
`{{$trigger}}`; no retry and no signature. Requests to addresses in IMPORT_IP_DENY_LIST are refused, and
`0.0.0.0` there stands for every local interface, loopback included (the default): a Directus on the same
host as the console cannot call it until the list is changed (#17906). Failures only show in the flow log.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import re
import socket
import threading
from urllib.parse import urlsplit

import requests
from django.db import close_old_connections, transaction
from django.utils import timezone

from apps.directus.sandbox.state import SandboxDirectusProject

logger = logging.getLogger(__name__)

# Tests switch this off to run the Flow synchronously, right after the transaction commits.
DELIVER_IN_BACKGROUND = True
TIMEOUT = 10
LOG_SIZE = 30
ENV_PATTERN = re.compile(r"\{\{\s*\$env\.([A-Za-z0-9_]+)\s*\}\}")


def trigger(collection: str, action: str, key: str, payload) -> dict:
    """`$trigger` of an items action event (shape UNCONFIRMED in the notes: event, collection, key(s), payload)."""
    body = {"event": f"{collection}.items.{action}", "collection": collection, "payload": payload}
    if action == "create":
        body["key"] = key
    else:
        body["keys"] = [key]
    return body


def on_item_change(project: SandboxDirectusProject, collection: str, action: str, key: str, payload) -> None:
    if not project.flow_url or (project.flow_collections and collection not in project.flow_collections):
        return
    body = trigger(collection, action, key, payload)
    project_id = project.pk

    def run():
        if DELIVER_IN_BACKGROUND:
            threading.Thread(target=_deliver_in_thread, args=(project_id, body), daemon=True).start()
        else:
            deliver(project_id, body)

    transaction.on_commit(run)


def _deliver_in_thread(project_id, body):
    try:
        deliver(project_id, body)
    finally:
        close_old_connections()


def denied(url: str, deny_list: str) -> bool:
    denied_entries = {entry.strip() for entry in deny_list.split(",") if entry.strip()}
    host = urlsplit(url).hostname or ""
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except socket.gaierror:
        return False
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%")[0])
        if address in denied_entries:
            return True
        if "0.0.0.0" in denied_entries and (ip.is_loopback or ip.is_unspecified or ip.is_link_local):
            return True
    return False


def deliver(project_id: int, body: dict) -> None:
    project = SandboxDirectusProject.objects.filter(pk=project_id).first()
    if project is None or not project.flow_url:
        return
    env = project.flow_env or {}
    headers = {h["header"]: ENV_PATTERN.sub(lambda m: str(env.get(m.group(1), "")), h["value"])
               for h in project.flow_headers if h.get("header")}
    headers.setdefault("Content-Type", "application/json")
    entry = {"at": timezone.now().isoformat(), "url": project.flow_url, "event": body["event"]}
    if denied(project.flow_url, project.import_ip_deny_list):
        entry["error"] = f'Requested URL "{project.flow_url}" resolves to a denied IP address'
    else:
        try:
            response = requests.post(project.flow_url, data=json.dumps(body), headers=headers, timeout=TIMEOUT)
            entry["status"] = response.status_code
        except requests.RequestException as exc:
            entry["error"] = type(exc).__name__
    log = ([entry] + list(project.flow_log))[:LOG_SIZE]
    SandboxDirectusProject.objects.filter(pk=project_id).update(flow_log=log)

