"""`manage.py directus bootstrap|push|resync <connection>`: the Directus mirror's maintenance from a shell."""

from getpass import getpass

from django.core.management.base import BaseCommand, CommandError

from apps.core.http import ApiError
from apps.core.models import Connection
from apps.directus import push, resync
from apps.directus.bootstrap import bootstrap
from apps.directus.client import DirectusClient


class Command(BaseCommand):
    help = "Miroir Directus : créer le schéma (bootstrap), envoyer la file (push), réparer les écarts (resync)."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True, metavar="action")
        for name, text in (("bootstrap", "Créer les collections et champs miroir (idempotent)."),
                           ("push", "Envoyer maintenant les écritures en attente."),
                           ("resync", "Comparer Directus au hub et corriger les écarts.")):
            parser_ = actions.add_parser(name, help=text)
            parser_.add_argument("connection", help="Identifiant de la connexion.")
            if name == "bootstrap":
                parser_.add_argument(
                    "--admin-token", default=None, metavar="JETON",
                    help="Jeton d'un administrateur Directus pour créer le schéma (jamais enregistré ; « - » : "
                         "saisie masquée). Par défaut : le jeton de la connexion.")

    def handle(self, *args, action, connection, admin_token=None, **options):
        try:
            target = Connection.objects.get(slug=connection, provider="directus")
        except Connection.DoesNotExist:
            raise CommandError(f"Aucune connexion Directus avec l'identifiant {connection!r} "
                               "(voir : manage.py connection list).") from None
        self.admin_token = getpass("Jeton administrateur Directus : ") if admin_token == "-" else admin_token
        try:
            getattr(self, f"handle_{action}")(target)
        except ApiError as exc:
            raise CommandError(f"Directus : {exc}") from None

    def handle_bootstrap(self, connection):
        report = bootstrap(connection, DirectusClient(connection, token=self.admin_token))
        for name in report.created_collections:
            self.stdout.write(f"  collection créée : {name}")
        for name in report.created_fields:
            self.stdout.write(f"  champ créé : {name}")
        self.stdout.write(self.style.SUCCESS(report.summary()))

    def handle_push(self, connection):
        with push.push_lock(connection, wait_seconds=120):
            report = push.push_all_due(connection, rounds=1000)
        self.stdout.write(f"Envoi : {report.summary()}. En attente : {push.pending_count(connection)}.")
        if report.failed:
            raise CommandError("Des écritures restent en attente (Directus indisponible ou refus) : "
                               "elles seront renvoyées automatiquement.")

    def handle_resync(self, connection):
        report = resync.resync(connection)
        for line in report.lines():
            self.stdout.write(f"  {line}")
        if report.push and report.push.failed:
            raise CommandError("Resynchronisation incomplète : des écritures restent en attente.")
        self.stdout.write(self.style.SUCCESS(
            "Aucun écart." if not report.changed else f"{report.changed} écart(s) traité(s)."))
