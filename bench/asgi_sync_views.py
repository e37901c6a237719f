"""Does one uvicorn worker run a Django process's synchronous views on one thread? (README claim, issue 11)

Serves a minimal Django 6.1 application (this file is its URLconf and ASGI module) with one uvicorn worker,
then fires ten concurrent requests at a synchronous view that blocks 200 ms (`time.sleep`) and, as the
baseline, at an async view that awaits 200 ms (`asyncio.sleep`, which never holds a thread). Rounds
alternate sync / async; the figure is the median wall time of a round of ten. The sync view also answers
the name of the thread that ran it, so the number of distinct threads is counted.

    python bench/asgi_sync_views.py --rounds 7

If sync views ran on one thread, a round would take 10 × 200 ms = 2 s; the async baseline takes ~0.2 s.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.request import urlopen

import django
from django.conf import settings

if not settings.configured:
    settings.configure(
        DEBUG=False, SECRET_KEY="bench", ALLOWED_HOSTS=["*"], ROOT_URLCONF=__name__,
        # The console's own middleware kinds: sync-only middleware like these are adapted per request too.
        MIDDLEWARE=["django.middleware.common.CommonMiddleware"],
    )
    django.setup()

from django.core.asgi import get_asgi_application  # noqa: E402
from django.http import HttpResponse  # noqa: E402
from django.urls import path  # noqa: E402

BLOCK_SECONDS = 0.2


def blocking_view(request):
    time.sleep(BLOCK_SECONDS)
    return HttpResponse(threading.current_thread().name)


async def awaiting_view(request):
    await asyncio.sleep(BLOCK_SECONDS)
    return HttpResponse("async")


urlpatterns = [path("sync/", blocking_view), path("async/", awaiting_view)]
application = get_asgi_application()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def one_round(base: str, kind: str, concurrency: int) -> tuple[float, set[str]]:
    def fetch(_):
        with urlopen(f"{base}/{kind}/", timeout=30) as response:
            return response.read().decode()

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        bodies = list(pool.map(fetch, range(concurrency)))
    return time.perf_counter() - started, set(bodies)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--concurrency", type=int, default=10)
    options = parser.parse_args()
    port = free_port()
    root = Path(__file__).resolve().parent.parent
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "bench.asgi_sync_views:application", "--port", str(port),
         "--workers", "1", "--lifespan", "off", "--no-access-log", "--log-level", "warning"],
        cwd=root, env={**os.environ, "PYTHONPATH": str(root)},
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urlopen(f"{base}/async/", timeout=2).read()
                break
            except OSError:
                time.sleep(0.1)
        timings = {"sync": [], "async": []}
        threads = set()
        for _ in range(options.rounds):
            for kind in ("sync", "async"):
                seconds, bodies = one_round(base, kind, options.concurrency)
                timings[kind].append(seconds)
                if kind == "sync":
                    threads = max(threads, bodies, key=len)
    finally:
        server.terminate()
        server.wait(timeout=10)
    sync_median, async_median = (statistics.median(timings[k]) for k in ("sync", "async"))
    print(f"Django {django.get_version()}, one uvicorn worker, {options.concurrency} concurrent requests "
          f"blocking {BLOCK_SECONDS * 1000:.0f} ms, {options.rounds} interleaved rounds")
    print(f"sync view   median {sync_median:.3f} s  (rounds: {', '.join(f'{t:.2f}' for t in timings['sync'])})")
    print(f"async view  median {async_median:.3f} s  (rounds: {', '.join(f'{t:.2f}' for t in timings['async'])})")
    print(f"ratio sync/async {sync_median / async_median:.2f}×; serial would be "
          f"{options.concurrency * BLOCK_SECONDS:.1f} s; distinct threads in one sync round: {len(threads)}")


if __name__ == "__main__":
    main()
