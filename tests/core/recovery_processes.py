"""Real processes for the recovery tests: a private redis-server they may kill, workers and a scheduler on it.

Everything here runs on the test database (committed rows: the tests are transactional) and on a redis-server
of its own on a free port, never on the session's Redis nor on the machine's 6379.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import redis

from tests.e2e.processes import ServiceProcess

BASE_DIR = Path(__file__).resolve().parents[2]
WORKER_SCRIPT = Path(__file__).with_name("recovery_worker.py")


def database_url(settings_dict: dict) -> str:
    engine = settings_dict["ENGINE"]
    if engine == "django.db.backends.sqlite3":
        return f"sqlite:///{settings_dict['NAME']}"
    credentials = quote(settings_dict.get("USER") or "", safe="")
    if settings_dict.get("PASSWORD"):
        credentials += ":" + quote(settings_dict["PASSWORD"], safe="")
    port = f":{settings_dict['PORT']}" if settings_dict.get("PORT") else ""
    return f"postgres://{credentials}@{settings_dict.get('HOST') or ''}{port}/{quote(settings_dict['NAME'], safe='')}"


class Processes:
    """Children started by one test; all stopped at the end (whole process groups)."""

    def __init__(self, *, database: str, redis_url: str, log_dir: Path):
        self.env = dict(os.environ, DATABASE_URL=database, REDIS_URL=redis_url, PYTHONUNBUFFERED="1",
                        DJANGO_SETTINGS_MODULE="config.settings")
        self.env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        self.log_dir = log_dir
        self.started: list[ServiceProcess] = []

    def start(self, name: str, command: list[str]) -> ServiceProcess:
        log_path = self.log_dir / f"{name}.log"
        with open(log_path, "w") as log:
            popen = subprocess.Popen(command, cwd=BASE_DIR, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        process = ServiceProcess(name, popen, log_path)
        self.started.append(process)
        return process

    def worker(self, name: str, *queues: str) -> ServiceProcess:
        """The console's worker command (default worker class, RQ's scheduler for delayed retries)."""
        return self.start(name, [sys.executable, str(WORKER_SCRIPT), *(queues or ("webhooks", "sync", "default")),
                                 "--with-scheduler", "--name", name])

    def scheduler(self) -> ServiceProcess:
        return self.start("scheduler", [sys.executable, "manage.py", "scheduler"])

    def logs(self) -> str:
        return "\n\n".join(f"--- {p.name} ---\n{p.log_tail(60)}" for p in self.started)

    def stop(self) -> None:
        for process in reversed(self.started):
            process.stop()


def descendants(pid: int) -> list[int]:
    """Children, grandchildren… of `pid` (RQ's work-horse runs in a process group of its own)."""
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children = (task / "children").read_text().split()
        except OSError:
            continue
        for child in map(int, children):
            found += [child, *descendants(child)]
    return found


def kill_group(process: ServiceProcess) -> None:
    """SIGKILL the worker, its work-horse and RQ's scheduler process: a machine losing its worker."""
    import signal

    for pid in [process.popen.pid, *descendants(process.popen.pid)]:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    process.popen.wait(10)


def registered_workers(redis_url: str) -> list[str]:
    from rq import Worker

    connection = redis.Redis.from_url(redis_url)
    try:
        return [worker.name for worker in Worker.all(connection=connection)]
    except redis.exceptions.ConnectionError:
        return []
    finally:
        connection.close()


def wait_for(condition, *, timeout: float, interval: float = 0.25, processes: Processes | None = None,
             what="") -> float:
    """Poll `condition` until true; return the seconds it took, or fail with `what` (text, or a function
    giving it then) and the children's logs."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if condition():
            return time.monotonic() - started
        time.sleep(interval)
    logs = processes.logs() if processes else ""
    raise AssertionError(f"Pas vrai après {timeout:.0f} s : {what() if callable(what) else what}\n{logs}")


