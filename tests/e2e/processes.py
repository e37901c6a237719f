"""The console as production runs it, started for the browser journeys.

Three process groups, each logging to test-artifacts/e2e/logs/<name>.log:
- web: the ASGI server (uvicorn) on a free port, serving the console and the vendor emulators at
  /sandbox/<system>/ (SANDBOX_BASE_URL = the console's address), as `make run` does: under ASGI each
  request's sync views run on a thread of their own, so a console view calling an emulator, or an emulator
  posting a webhook back, does not wait on itself. Its settings (sandbox_settings.py) leave completing
  Revolut payments to the journeys;
- worker: the RQ worker on the console's queues, with RQ's scheduler for delayed retries;
- scheduler: the console's periodic jobs (`manage.py scheduler`), when that command exists.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parents[2]
READY_TIMEOUT_SECONDS = 60
STOP_GRACE_SECONDS = 10


class ConsoleDidNotStart(RuntimeError):
    pass


def free_port() -> int:
    """A port nobody listens on right now (the kernel picks it; 8000 is never in its range)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class ServiceProcess:
    name: str
    popen: subprocess.Popen
    log_path: Path
    # How it was started, so a journey can restart it (a deploy, a crash) with the same command and settings.
    command: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)

    def is_running(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        """SIGTERM to the whole process group (uvicorn reloaders, RQ work horses), SIGKILL if it lingers."""
        if not self.is_running():
            return
        try:
            os.killpg(self.popen.pid, signal.SIGTERM)
            self.popen.wait(timeout=STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(timeout=STOP_GRACE_SECONDS)
        except ProcessLookupError:
            pass


@dataclass
class RunningConsole:
    url: str  # the console, also PUBLIC_BASE_URL and SANDBOX_BASE_URL
    env: dict[str, str]
    log_dir: Path
    processes: list[ServiceProcess] = field(default_factory=list)

    @property
    def sandbox_url(self) -> str:
        """Where /sandbox/<system>/ answers: the console's own server."""
        return self.url

    def manage(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess:
        """Run a management command against the same database, Redis and URLs as the servers."""
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=BASE_DIR,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def dead_processes(self) -> list[ServiceProcess]:
        return [process for process in self.processes if not process.is_running()]

    def log_tails(self, lines: int = 30) -> str:
        return "\n\n".join(
            f"--- {process.name} ({process.log_path}) ---\n{process.log_tail(lines)}" for process in self.processes
        )

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop()

    def start_web(self, name: str) -> str:
        """Another web process on the same database and Redis (a second machine behind the balancer); its URL."""
        web = self.process("web")
        port = free_port()
        at = web.command.index("--port") + 1
        command = [*web.command[:at], str(port), *web.command[at + 1:]]
        self.processes.append(spawn(name, command, web.env, self.log_dir / f"{name}.log"))
        url = f"http://127.0.0.1:{port}"
        self._wait_for(name, url)
        return url

    def stop_process(self, name: str) -> None:
        """Stop one process as a deploy or a crash would: its open sockets close."""
        self.process(name).stop()

    def start_again(self, name: str, url: str) -> None:
        stopped = self.process(name)
        self.processes[self.processes.index(stopped)] = spawn(name, stopped.command, stopped.env, stopped.log_path,
                                                              append=True)
        self._wait_for(name, url)

    def remove(self, name: str) -> None:
        process = self.process(name)
        process.stop()
        self.processes.remove(process)

    def process(self, name: str) -> ServiceProcess:
        return next(process for process in self.processes if process.name == name)

    def _wait_for(self, name: str, url: str) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while not answers_ok(url + "/healthz"):
            if not self.process(name).is_running() or time.monotonic() > deadline:
                raise ConsoleDidNotStart(f"{name} did not start.\n{self.log_tails()}")
            time.sleep(0.3)


def child_environment(*, database_url: str, redis_url: str, console_url: str) -> dict[str, str]:
    env = dict(os.environ)
    # The test process may allow sync ORM calls next to Playwright's event loop; the servers must not.
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    env.update(
        DEBUG="1",
        SANDBOX="1",
        DJANGO_SETTINGS_MODULE="config.settings",
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        PUBLIC_BASE_URL=console_url,
        # Where `manage.py demo` points the connections: the console's server, which serves the emulators.
        SANDBOX_BASE_URL=console_url,
        PYTHONUNBUFFERED="1",
    )
    return env


def start_console(*, database_url: str, redis_url: str, log_dir: Path, with_scheduler: bool) -> RunningConsole:
    log_dir.mkdir(parents=True, exist_ok=True)
    console_port = free_port()
    console_url = f"http://127.0.0.1:{console_port}"
    env = child_environment(database_url=database_url, redis_url=redis_url, console_url=console_url)
    console = RunningConsole(url=console_url, env=env, log_dir=log_dir)

    commands = {
        "web": [
            sys.executable, "-m", "uvicorn", "config.asgi:application",
            "--host", "127.0.0.1", "--port", str(console_port), "--lifespan", "off",
        ],
        "worker": [sys.executable, "manage.py", "rqworker", "webhooks", "sync", "default", "--with-scheduler"],
    }
    if with_scheduler:
        commands["scheduler"] = [sys.executable, "manage.py", "scheduler"]
    environments = {name: env for name in commands}
    environments["web"] = dict(env, DJANGO_SETTINGS_MODULE="tests.e2e.sandbox_settings")

    try:
        for name, command in commands.items():
            console.processes.append(spawn(name, command, environments[name], log_dir / f"{name}.log"))
        wait_until_ready(console, redis_url)
    except BaseException:
        console.stop()
        raise
    return console


def spawn(name: str, command: list[str], env: dict[str, str], log_path: Path, *, append: bool = False) -> ServiceProcess:
    with open(log_path, "a" if append else "w") as log:
        popen = subprocess.Popen(
            command, cwd=BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    return ServiceProcess(name, popen, log_path, command=command, env=env)


def wait_until_ready(console: RunningConsole, redis_url: str) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    pending = {"web /healthz": console.url + "/healthz"}
    worker_registered = False
    while pending or not worker_registered:
        dead = console.dead_processes()
        if dead:
            raise ConsoleDidNotStart(
                f"{', '.join(p.name for p in dead)} exited during start-up.\n{console.log_tails()}"
            )
        if time.monotonic() > deadline:
            waiting = [*pending, *([] if worker_registered else ["RQ worker registration"])]
            raise ConsoleDidNotStart(
                f"Not ready after {READY_TIMEOUT_SECONDS}s: {', '.join(waiting)}.\n{console.log_tails()}"
            )
        for label, url in list(pending.items()):
            if answers_ok(url):
                del pending[label]
        if not worker_registered:
            worker_registered = rq_worker_count(redis_url) > 0
        time.sleep(0.3)


def answers_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return response.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return False


def rq_worker_count(redis_url: str) -> int:
    import redis
    from rq import Worker

    connection = redis.Redis.from_url(redis_url)
    try:
        return len(Worker.all(connection=connection))
    finally:
        connection.close()
