"""`make run` keeps the console up: a worker, scheduler or Redis that dies is started again, not fatal.

Runs the real `manage.py runconsole` (without sandboxes or demo) on a database of its own and with its own
embedded Redis, kills its worker and then its redis-server, and watches both come back.
"""

import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import redis
from rq import Worker

from tests.core.recovery_processes import wait_for
from tests.e2e.processes import free_port

BASE_DIR = Path(__file__).resolve().parents[2]


class RunningConsole:
    def __init__(self, tmp_path):
        env = dict(os.environ, DEBUG="1", SANDBOX="0", PYTHONUNBUFFERED="1",
                   DATABASE_URL=f"sqlite:///{tmp_path / 'console.sqlite3'}")
        env.pop("REDIS_URL", None)  # its own embedded Redis, the one it must bring back
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "runconsole", "--port", str(free_port()), "--no-demo"],
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
