import logging
import signal
import threading

import django_rq
from django.core.management.base import BaseCommand

from apps.core.scheduler import Scheduler, periodic_jobs


class Command(BaseCommand):
    help = "Met en file les tâches périodiques à échéance (un seul planificateur actif à la fois)."

    def add_arguments(self, parser):
        parser.add_argument("--interval", type=float, default=1.0, help="Secondes entre deux passages.")
        parser.add_argument("--once", action="store_true", help="Un seul passage, puis sortie.")

    def handle(self, *args, interval, once, **options):
        logging.getLogger("apps.core.scheduler").setLevel(logging.INFO)
        scheduler = Scheduler(django_rq.get_connection("default"))
        if once:
            if not scheduler.hold_lock():
                self.stdout.write("Un autre planificateur est actif : rien n'a été mis en file.")
                return
            try:
                enqueued = scheduler.tick()
            finally:
                scheduler.release_lock()
            self.stdout.write(", ".join(enqueued) if enqueued else "Aucune tâche à échéance.")
            return
        for job in periodic_jobs():
            self.stdout.write(f"  toutes les {job.seconds} s : {job.name} (file {job.queue})")
        stop = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())
        scheduler.run(stop, interval=interval)
        self.stdout.write("Planificateur arrêté.")
