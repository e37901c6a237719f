"""`make run`: one server for the console and its sandboxes; a worker, scheduler or Redis that dies is started again.

Runs the real `manage.py runconsole` (without the demo) on a database of its own and with its own embedded
Redis. One test kills its worker and then its redis-server and watches both come back; the other has a console
view ("Tester la connexion" of the demo Invoice Ninja connection) call the emulator served by the same server.
"""

import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import redis
import requests
from rq import Worker

from tests.core.recovery_processes import wait_for
from tests.e2e.processes import free_port

BASE_DIR = Path(__file__).resolve().parents[2]


class RunningConsole:
    def __init__(self, tmp_path, *, sandbox: bool = False):
        env = dict(os.environ, DEBUG="1", SANDBOX="1" if sandbox else "0", PYTHONUNBUFFERED="1",
                   DATABASE_URL=f"sqlite:///{tmp_path / 'console.sqlite3'}")
        for name in ("REDIS_URL", "PUBLIC_BASE_URL", "SANDBOX_BASE_URL"):
            env.pop(name, None)  # its own embedded Redis (the one it must bring back) and its own address
        self.env = env
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "runconsole", "--port", str(self.port), "--no-demo"],
            cwd=BASE_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, text=True,
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.process.stdout:
            self.lines.append(line.rstrip())

    def output(self) -> str:
        return "\n".join(self.lines[-80:])

    def redis_url(self) -> str | None:
        for line in self.lines:
            found = re.search(r"Redis embarqué : (redis://\S+)", line)
            if found:
                return found.group(1)
        return None

    def stop(self):
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def worker_pids(url: str) -> set[int]:
    connection = redis.Redis.from_url(url, socket_connect_timeout=1)
    try:
        return {worker.pid for worker in Worker.all(connection=connection)}
    except redis.exceptions.ConnectionError:
        return set()
    finally:
        connection.close()


def answers(url: str) -> bool:
    try:
        return redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except redis.exceptions.ConnectionError:
        return False


def test_a_killed_worker_and_a_killed_redis_are_restarted_and_the_console_stays_up(tmp_path):
    console = RunningConsole(tmp_path)
    try:
        wait_for(lambda: any("Console prête" in line for line in console.lines), timeout=120,
                 what=lambda: "la console démarre\n" + console.output())
        url = console.redis_url()
        wait_for(lambda: worker_pids(url), timeout=30, what=lambda: "un worker enregistré\n" + console.output())
        (first_worker,) = worker_pids(url)

        os.killpg(first_worker, signal.SIGKILL)
        wait_for(lambda: worker_pids(url) - {first_worker}, timeout=60,
                 what=lambda: "un nouveau worker remplace le worker tué\n" + console.output())
        assert console.process.poll() is None, console.output()

        redis_pid = redis.Redis.from_url(url).info("server")["process_id"]
        os.kill(redis_pid, signal.SIGKILL)
        wait_for(lambda: any("Redis embarqué redémarré" in line for line in console.lines) and answers(url),
                 timeout=30, what=lambda: "Redis redémarré sur le même port\n" + console.output())
        # The worker waited for it and registers again; nothing else had to be restarted for that.
        wait_for(lambda: worker_pids(url), timeout=60, what=lambda: "le worker se réenregistre\n" + console.output())
        assert console.process.poll() is None, console.output()
    finally:
        console.stop()
    assert "Tout est arrêté." in console.output()


SET_UP_DEMO_CONNECTION = """
from django.contrib.auth.models import Permission, User
from apps.invoiceninja.demo import demo_connection

connection = demo_connection()
user = User.objects.create_user("gestion", password="gestion-connexions", is_staff=True)
user.user_permissions.add(*Permission.objects.filter(
    content_type__app_label="core", codename__in=["view_console", "manage_connections"]))
print(connection.pk, connection.base_url)
"""


def test_one_server_serves_the_sandboxes_and_a_console_view_calling_them_answers(tmp_path):
    console = RunningConsole(tmp_path, sandbox=True)
    try:
        wait_for(lambda: any("Console prête" in line for line in console.lines), timeout=120,
                 what=lambda: "la console démarre\n" + console.output())
        children = {line.split("|", 1)[0].strip() for line in console.lines if "|" in line}
        assert "sandbox" not in children, console.output()

        # The demo's Invoice Ninja connection, made as `manage.py demo` makes it in runconsole's environment
        # (where SANDBOX_BASE_URL is left to follow the console's address).
        setup = subprocess.run(
            [sys.executable, "manage.py", "shell", "-c", SET_UP_DEMO_CONNECTION], cwd=BASE_DIR, text=True,
            env=dict(console.env, PUBLIC_BASE_URL=console.url, REDIS_URL=console.redis_url()),
            capture_output=True, timeout=120,
        )
        assert setup.returncode == 0, setup.stderr
        connection_pk, base_url = setup.stdout.split()[-2:]
        assert base_url == f"{console.url}/sandbox/invoiceninja"

        browser = requests.Session()
        browser.get(f"{console.url}/admin/login/", timeout=30)
        browser.post(f"{console.url}/admin/login/", timeout=30, data={
            "username": "gestion", "password": "gestion-connexions", "next": "/admin/",
            "csrfmiddlewaretoken": browser.cookies["csrftoken"],
        })
        # "Tester la connexion": the console view calls /sandbox/invoiceninja/api/v1/ping on its own server.
        answer = browser.post(f"{console.url}/invoiceninja/test/", timeout=60, data={
            "connection": connection_pk, "csrfmiddlewaretoken": browser.cookies["csrftoken"],
        })
        assert answer.status_code == 200 and answer.url == f"{console.url}/invoiceninja/", answer.url
        assert "Connecté à l&#x27;entreprise « " in answer.text or "Connecté à l'entreprise « " in answer.text, (
            answer.text[-3000:])
        assert console.process.poll() is None, console.output()
    finally:
        console.stop()
