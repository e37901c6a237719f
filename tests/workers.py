"""Background work run inside a test, in its process, as the console's worker would run it."""

import django_rq
from rq import SimpleWorker

from apps.core.webhooks.dispatch import dispatch_all

ALL_QUEUES = ("webhooks", "default", "sync")


class InProcessWorker(SimpleWorker):
    """RQ's in-process worker without its command channel: no test sends a worker a command, and closing the
    channel's listener thread after each burst took a third of the Mautic tests' time."""

    def subscribe(self):
        self.pubsub_thread = None

    def unsubscribe(self):
        pass


def run_jobs(*queue_names: str) -> None:
    """Run what waits on `queue_names` (all three by default) until nothing is left: stored deliveries are handed
    to the `webhooks` queue first, as the worker's dispatcher does, again after each pass (a job may have
    received a delivery, e.g. from a sandbox), and every job runs through RQ's in-process worker. Not the
    console's own worker class: between jobs it closes a database connection left in a transaction, which
    is the test's own."""
    names = queue_names or ALL_QUEUES
    if "webhooks" in names:
        dispatch_all()
    while True:
        django_rq.get_worker(*names, worker_class=InProcessWorker).work(burst=True)
        if "webhooks" not in names or not dispatch_all():
            return
