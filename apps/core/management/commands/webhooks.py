"""`manage.py webhooks replay --failed | --ids 1 2 3`, `webhooks sweep`, `webhooks purge`."""

from django.core.management.base import BaseCommand, CommandError

from apps.core.models import WebhookEvent
from apps.core.webhooks.maintenance import purge_old_events, sweep_stuck_events
from apps.core.webhooks.processing import replay


class Command(BaseCommand):
    help = "Rejoue, balaie ou purge les webhooks reçus."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True, metavar="{replay,sweep,purge}")
        replay_parser = actions.add_parser("replay", help="Remettre des webhooks en file de traitement.")
        which = replay_parser.add_mutually_exclusive_group(required=True)
        which.add_argument("--failed", action="store_true", help="Tous les webhooks en échec.")
        which.add_argument("--ids", nargs="+", type=int, metavar="ID", help="Les webhooks de ces identifiants.")
        actions.add_parser("sweep", help="Remettre en file les webhooks restés en attente (Redis indisponible).")
        purge_parser = actions.add_parser("purge", help="Supprimer les webhooks au-delà de la durée de rétention.")
        purge_parser.add_argument("--budget", type=float, default=None, help="Durée maximale en secondes.")

    def handle(self, *args, action, **options):
        getattr(self, f"handle_{action}")(**options)

    def handle_replay(self, *, failed=False, ids=None, **options):
        if failed:
            queryset = WebhookEvent.objects.filter(status=WebhookEvent.Status.FAILED)
        else:
            queryset = WebhookEvent.objects.filter(pk__in=ids)
            unknown = sorted(set(ids) - set(queryset.values_list("pk", flat=True)))
            if unknown:
                raise CommandError("Webhooks introuvables : " + ", ".join(map(str, unknown)))
        selected = queryset.count()
        replayed = replay(queryset)
        self.stdout.write(f"{replayed} webhook(s) remis en file.")
        if selected > replayed:
            self.stdout.write(f"{selected - replayed} webhook(s) non rejoué(s) : rejetés ou doublons, jamais traités.")

    def handle_sweep(self, **options):
        self.stdout.write(f"{sweep_stuck_events()} webhook(s) en attente remis en file.")

    def handle_purge(self, *, budget=None, **options):
        result = purge_old_events(time_budget_seconds=budget)
        self.stdout.write(
            f"{result['deleted']} webhook(s) supprimé(s), {result['failed_deleted']} webhook(s) en échec supprimé(s)."
        )
        if not result["complete"]:
            self.stdout.write("Durée maximale atteinte : la purge reprendra au prochain passage.")
