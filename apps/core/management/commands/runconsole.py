"""`make run`: the whole console on one machine, in the foreground, stopped by Ctrl-C.

Starts a private Redis when REDIS_URL is unset, migrates, then runs together:
  web      uvicorn config.asgi:application on --port: the console and, with SANDBOX on, the emulators at
           /sandbox/<system>/ that the demo connections call (SANDBOX_BASE_URL = this server's address)
  worker   rqworker (apps.core.worker.ConsoleWorker) on the webhooks, sync and default queues
  scheduler the periodic jobs
and seeds the demo. One server is enough: under ASGI Django runs each request's sync views on a thread of
its own, so a view calling an emulator served by the same process does not wait on itself
(bench/asgi_sync_views.py). A child that stops on its own — the worker, the scheduler, the server — is
started again after a backoff (1 s, doubling up to 30 s, back to 1 s once it has run a minute), and so is
the private Redis, on the same port, so every child finds it at the URL it already has. Every child runs in its own process
group; on Ctrl-C or SIGTERM all groups get SIGTERM, then SIGKILL after a grace period, and the private Redis
stops last.
"""

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from apps.core.embedded_redis import EmbeddedRedis, EmbeddedRedisError

GRACE_SECONDS = 10
READY_TIMEOUT_SECONDS = 60
RESTART_MIN_SECONDS = 1.0
RESTART_MAX_SECONDS = 30.0
STABLE_AFTER_SECONDS = 60.0


class Child:
    """One supervised process: started, watched, started again (with backoff) when it stops on its own."""

    def __init__(self, name: str, command: list[str], env: dict, output):
        self.name = name
        self.command = command
        self.env = env
        self.output = output
        self.backoff = RestartBackoff()
        self.start()

    def start(self) -> None:
        self.process = subprocess.Popen(
            self.command, cwd=settings.BASE_DIR, env=self.env, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
        )
        self.started_at = time.monotonic()
        threading.Thread(target=self._relay_output, args=(self.process,), daemon=True).start()

    def _relay_output(self, process):
        for line in iter(process.stdout.readline, b""):
            self.output(f"{self.name:<9} | {line.decode(errors='replace').rstrip()}")
        process.stdout.close()

    def signal_group(self, signum) -> None:
        try:
            os.killpg(self.process.pid, signum)
        except ProcessLookupError:
            pass

    def running(self) -> bool:
        return self.process.poll() is None


class RestartBackoff:
    """When to start a stopped thing again: 1 s, doubling up to RESTART_MAX_SECONDS; reset once it ran a while."""

    def __init__(self):
        self.delay = RESTART_MIN_SECONDS
        self.due: float | None = None

    def schedule(self, ran_for: float) -> float:
        if ran_for >= STABLE_AFTER_SECONDS:
            self.delay = RESTART_MIN_SECONDS
        self.due = time.monotonic() + self.delay
        scheduled, self.delay = self.delay, min(self.delay * 2, RESTART_MAX_SECONDS)
        return scheduled

    def is_due(self) -> bool:
        return self.due is not None and time.monotonic() >= self.due

    def done(self) -> None:
        self.due = None


class Command(BaseCommand):
    help = ("Lance la console complète (web et bacs à sable, worker, planificateur), redémarre ce qui s'arrête ; "
            "Ctrl-C arrête tout.")

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--no-demo", action="store_true", help="Ne pas créer les données de démonstration.")

    def handle(self, *args, host, port, no_demo, **options):
        ensure_port_free(host, port)
        self.children: list[Child] = []
        self.redis: EmbeddedRedis | None = None
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, self._on_signal)
        exit_code = 0
        try:
            env = self.child_environment(host, port)
            self.run_step("migrate", [sys.executable, "manage.py", "migrate", "--noinput"], env)
            self.start_processes(env, host, port)
            self.wait_until_ready(f"http://{host}:{port}/healthz")
            if not no_demo and settings.SANDBOX and not self.stopping.is_set():
                self.run_step("demo", [sys.executable, "manage.py", "demo"], env)
            if not self.stopping.is_set():
                self.say(f"\nConsole prête : http://{host}:{port}/admin/  (Ctrl-C pour tout arrêter)\n")
            exit_code = self.supervise()
        except CommandError as exc:
            self.stderr.write(str(exc))
            exit_code = 1
        finally:
            self.shutdown()
        if exit_code:
            sys.exit(exit_code)

    def say(self, message: str) -> None:
        with self._lock:
            self.stdout.write(message)
            self.stdout.flush()

    def _on_signal(self, signum, frame):
        if not self.stopping.is_set():
            self.say("\nArrêt demandé…")
        self.stopping.set()

    def child_environment(self, host, port) -> dict:
        env = dict(os.environ)
        env.setdefault("PUBLIC_BASE_URL", f"http://{host}:{port}")
        env.setdefault("SANDBOX_BASE_URL", f"http://{host}:{port}")  # the emulators answer on the web server
        env["PYTHONUNBUFFERED"] = "1"
        if not os.environ.get("REDIS_URL"):
            self.redis = EmbeddedRedis(workdir=Path(settings.VAR_DIR) / "redis")
            env["REDIS_URL"] = self.redis.start()
            self.say(f"Redis embarqué : {env['REDIS_URL']} (sans persistance)")
        else:
            self.say("Redis : REDIS_URL")
        self.say("Base de données : " + ("DATABASE_URL" if os.environ.get("DATABASE_URL") else "SQLite (var/)"))
        return env

    def run_step(self, name, command, env) -> None:
        self.say(f"→ {name}")
        result = subprocess.run(command, cwd=settings.BASE_DIR, env=env, start_new_session=True)
        if result.returncode != 0:
            raise CommandError(f"L'étape « {name} » a échoué (code {result.returncode}).")

    def start_processes(self, env, host, port) -> None:
        commands = {"web": [sys.executable, "-m", "uvicorn", "config.asgi:application", "--host", host,
                            "--port", str(port), "--lifespan", "off"]}
        commands["worker"] = [
            sys.executable, "manage.py", "rqworker", "webhooks", "sync", "default", "--with-scheduler",
            "--worker-class", "apps.core.worker.ConsoleWorker",
        ]
        commands["scheduler"] = [sys.executable, "manage.py", "scheduler"]
        for name, command in commands.items():
            self.children.append(Child(name, command, env, self.say))

    def wait_until_ready(self, url: str) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while not self.stopping.is_set():
            if any(not child.running() for child in self.children):
                raise CommandError("Un processus s'est arrêté au démarrage (voir ci-dessus).")
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise CommandError(f"{url} ne répond pas après {READY_TIMEOUT_SECONDS} s.")
            self.stopping.wait(0.3)

    def supervise(self) -> int:
        """Until Ctrl-C: start again whatever stopped on its own, the private Redis first."""
        redis_backoff = RestartBackoff()
        redis_started_at = time.monotonic()
        while not self.stopping.wait(0.5):
            if self.redis and not self.redis.running():
                if redis_backoff.due is None:
                    delay = redis_backoff.schedule(time.monotonic() - redis_started_at)
                    self.say(f"Redis embarqué s'est arrêté : redémarrage sur le même port dans {delay:.0f} s.")
                elif redis_backoff.is_due():
                    try:
                        self.redis.restart()
                    except EmbeddedRedisError as exc:
                        self.say(f"Redis embarqué ne redémarre pas : {exc}")
                        redis_backoff.due = None
                    else:
                        self.say(f"Redis embarqué redémarré : {self.redis.url} (données perdues, reprises par "
                                 f"les balayages).")
                        redis_backoff.done()
                        redis_started_at = time.monotonic()
            for child in self.children:
                if child.running() or self.stopping.is_set():
                    continue
                if child.backoff.due is None:
                    delay = child.backoff.schedule(time.monotonic() - child.started_at)
                    self.say(f"Le processus « {child.name} » s'est arrêté (code {child.process.returncode}) : "
                             f"redémarrage dans {delay:.0f} s.")
                elif child.backoff.is_due():
                    child.signal_group(signal.SIGKILL)  # what it left behind (a work-horse) goes with it
                    child.start()
                    child.backoff.done()
                    self.say(f"Processus « {child.name} » redémarré.")
        return 0

    def shutdown(self) -> None:
        self.stopping.set()
        running = [child for child in self.children if child.running()]
        for child in running:
            child.signal_group(signal.SIGTERM)
        deadline = time.monotonic() + GRACE_SECONDS
        for child in running:
            try:
                child.process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.say(f"« {child.name} » ne s'arrête pas : SIGKILL.")
        for child in self.children:
            # The whole group: a worker's work-horse or a server's reloader goes with its parent.
            child.signal_group(signal.SIGKILL)
            child.process.wait()
        if self.redis:
            self.redis.stop()
        self.say("Tout est arrêté.")


def ensure_port_free(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            raise CommandError(f"Le port {port} est déjà utilisé sur {host} : arrêtez l'autre processus ou "
                               f"choisissez --port.") from None
