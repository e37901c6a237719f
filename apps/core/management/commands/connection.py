"""`manage.py connection add|list|show|test|sync`: manage the console's connections from a shell.

Works for any registered provider. Secret values are written, never printed: `show` gives their names
and a masked form only.
"""

import json
import time
from getpass import getpass

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.core.validators import URLValidator
from django.db import transaction
from django.utils.text import slugify

from apps.core import encryption, providers, sync
from apps.core.connection_check import check_connection
from apps.core.models import Connection, SyncRun

# How long `connection sync` waits for a run that a worker picked up before the command did.
WORKER_RUN_POLL_SECONDS = 1.0


class Command(BaseCommand):
    help = "Gérer les connexions aux systèmes externes (ajout, liste, détail, test, synchronisation)."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True, metavar="action")

        add = actions.add_parser("add", help="Ajouter une connexion.")
        add.add_argument("provider", help="Système (clé du fournisseur, ex. invoiceninja).")
        add.add_argument("--name", required=True, help="Nom affiché de la connexion.")
        add.add_argument("--base-url", default="", help="URL de base de l'API.")
        add.add_argument(
            "--secret", action="append", default=[], metavar="NOM=VALEUR",
            help="Secret de la connexion (répétable). VALEUR « - » : saisie masquée au clavier.",
        )
        add.add_argument(
            "--webhook-secret", action="append", default=[], metavar="SECRET",
            help="Secret de signature des webhooks (répétable). « - » : saisie masquée au clavier.",
        )
        add.add_argument("--json", action="store_true", help="Sortie JSON.")

        listing = actions.add_parser("list", help="Lister les connexions.")
        listing.add_argument("--json", action="store_true", help="Sortie JSON.")

        show = actions.add_parser("show", help="Afficher une connexion (jamais la valeur d'un secret).")
        show.add_argument("slug")
        show.add_argument("--json", action="store_true", help="Sortie JSON.")

        test = actions.add_parser("test", help="Tester la connexion (appel authentifié le moins coûteux).")
        test.add_argument("slug")

        run = actions.add_parser("sync", help="Synchroniser maintenant, dans ce processus.")
        run.add_argument("slug")
        run.add_argument("--resource", help="Une seule ressource (par défaut : toutes celles du système).")
        run.add_argument("--full", action="store_true", help="Synchronisation complète (détecte les suppressions).")

    def handle(self, *args, action, **options):
        return getattr(self, f"handle_{action}")(**options)

    # add ------------------------------------------------------------------------------------------
    def handle_add(self, *, provider, name, base_url, secret, webhook_secret, json: bool, **options):
        plugin = self._provider(provider)
        name = name.strip()
        if not name:
            raise CommandError("Le nom de la connexion est obligatoire.")
        if base_url:
            try:
                URLValidator(schemes=["http", "https"])(base_url)
            except ValidationError:
                raise CommandError(f"URL de base invalide : {base_url!r}.") from None
        secrets = self._parse_secrets(plugin, secret)
        webhook_secrets = [self._read_value(value, "Secret de webhook") for value in webhook_secret]
        if any(not value for value in webhook_secrets):
            raise CommandError("Un secret de webhook ne peut pas être vide.")

        with transaction.atomic():
            connection = Connection.objects.create(
                provider=plugin.key,
                name=name,
                slug=self._unique_slug(name),
                base_url=base_url,
                secrets=secrets,
                webhook_secrets=webhook_secrets,
                token_status=(Connection.TokenStatus.MISSING if plugin.uses_oauth
                              else Connection.TokenStatus.NOT_APPLICABLE),
            )
        missing = [key for key in plugin.secret_names if key not in secrets]
        if json:
            self._print_json(describe(connection))
            return
        self.stdout.write(self.style.SUCCESS(
            f"Connexion « {connection.name} » créée (identifiant : {connection.slug})."
        ))
        self.stdout.write(f"URL du webhook : {connection.webhook_url()}")
        if missing:
            self.stdout.write(self.style.WARNING(f"Secrets non renseignés : {', '.join(missing)}."))

    def _parse_secrets(self, plugin, pairs) -> dict:
        secrets = {}
        for pair in pairs:
            key, sep, value = pair.partition("=")
            key = key.strip()
            if not sep or not key:
                raise CommandError(f"--secret attend NOM=VALEUR (reçu : « {key or pair[:20]}… »).")
            if plugin.secret_names and key not in plugin.secret_names:
                raise CommandError(
                    f"Secret inconnu pour {plugin.label} : {key!r}. "
                    f"Secrets attendus : {', '.join(plugin.secret_names)}."
                )
            value = self._read_value(value, key)
            if not value:
                raise CommandError(f"Le secret {key!r} est vide.")
            secrets[key] = value
        return secrets

    @staticmethod
    def _read_value(value: str, label: str) -> str:
        # "-" keeps the value out of the shell history and the process list.
        return getpass(f"{label} : ") if value == "-" else value

    @staticmethod
    def _unique_slug(name: str) -> str:
        base = slugify(name)[:70] or "connexion"
        slug, suffix = base, 2
        while Connection.objects.filter(slug=slug).exists():
            slug, suffix = f"{base}-{suffix}", suffix + 1
        return slug

    # list / show ----------------------------------------------------------------------------------
    def handle_list(self, *, json: bool, **options):
        connections = list(Connection.objects.order_by("provider", "name"))
        if json:
            self._print_json([summarize(c) for c in connections])
            return
        if not connections:
            self.stdout.write("Aucune connexion. Ajoutez-en une : manage.py connection add <système> --name <nom>")
            return
        rows = [(c.slug, provider_label(c.provider), c.name, str(c.health_label)) for c in connections]
        header = ("IDENTIFIANT", "SYSTÈME", "NOM", "ÉTAT")
        widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
        for row in [header, *rows]:
            self.stdout.write("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip())

    def handle_show(self, *, slug, json: bool, **options):
        details = describe(self._connection(slug))
        if json:
            self._print_json(details)
            return
        labels = {
            "slug": "Identifiant", "provider_label": "Système", "name": "Nom", "base_url": "URL de l'API",
            "is_active": "Active", "health": "État", "last_ok_at": "Dernier succès",
            "last_error_at": "Dernière erreur le", "last_error": "Dernière erreur",
            "consecutive_failures": "Échecs consécutifs", "token_status": "Jeton OAuth",
            "webhook_url": "URL du webhook",
        }
        for key, label in labels.items():
            value = details[key]
            if isinstance(value, bool):
                value = "oui" if value else "non"
            self.stdout.write(f"{label} : {value if value not in (None, '') else '—'}")
        self.stdout.write("Secrets :")
        for key, masked in details["secrets"].items():
            self.stdout.write(f"  {key} : {masked or '(non renseigné)'}")
        self.stdout.write(f"Secrets de webhook : {', '.join(details['webhook_secrets']) or 'aucun'}")
        if details["config"]:
            self.stdout.write(f"Configuration : {json_dumps(details['config'])}")

    # test -----------------------------------------------------------------------------------------
    def handle_test(self, *, slug, **options):
        connection = self._connection(slug)
        result = check_connection(connection)
        if not result.ok:
            raise CommandError(f"Échec du test de « {connection.name} » : {result.message}")
        self.stdout.write(self.style.SUCCESS(f"Connexion « {connection.name} » opérationnelle : {result.message}"))

    # sync -----------------------------------------------------------------------------------------
    def handle_sync(self, *, slug, resource, full: bool, **options):
        connection = self._connection(slug)
        plugin = self._provider(connection.provider)
        names = [r.name for r in plugin.sync_resources]
        if not names:
            raise CommandError(f"{plugin.label} n'a aucune ressource à synchroniser.")
        if resource is not None and resource not in names:
            raise CommandError(
                f"Ressource inconnue pour {plugin.label} : {resource!r}. Ressources : {', '.join(names)}."
            )
        kind = SyncRun.Kind.FULL if full else SyncRun.Kind.INCREMENTAL

        failed = []
        for name in [resource] if resource else names:
            run, created = sync.start_sync(connection, name, kind=kind)
            if not created:
                self.stdout.write(self.style.WARNING(
                    f"{name} : synchronisation déjà en cours (n° {run.pk}, {run.get_status_display().lower()})."
                ))
                continue
            self.stdout.write(f"{name} : synchronisation n° {run.pk} ({run.get_kind_display().lower()})…")
            run = self._run_to_end(run)
            self.stdout.write(f"  {format_counts(run)}")
            if run.status != SyncRun.Status.SUCCEEDED:
                failed.append(name)
                reason = run.error.splitlines()[0] if run.error else run.status
                self.stderr.write(self.style.ERROR(f"  Échec : {reason}"))
        if failed:
            raise CommandError(f"Synchronisation en échec : {', '.join(failed)}.")

    def _run_to_end(self, run: SyncRun) -> SyncRun:
        # start_sync also queued the job: whichever of this process and a worker claims the run first
        # executes it; the other finds it taken, and this command then waits for the outcome.
        sync.run_sync(run.pk)
        run.refresh_from_db()
        while run.is_active:
            time.sleep(WORKER_RUN_POLL_SECONDS)
            run.refresh_from_db()
        return run

    # shared ---------------------------------------------------------------------------------------
    @staticmethod
    def _provider(key: str):
        try:
            return providers.get(key)
        except providers.UnknownProvider:
            known = ", ".join(p.key for p in providers.all_providers()) or "aucun"
            raise CommandError(f"Système inconnu : {key!r}. Systèmes disponibles : {known}.") from None

    @staticmethod
    def _connection(slug: str) -> Connection:
        try:
            return Connection.objects.get(slug=slug)
        except Connection.DoesNotExist:
            raise CommandError(
                f"Aucune connexion avec l'identifiant {slug!r} (voir : manage.py connection list)."
            ) from None

    def _print_json(self, data):
        self.stdout.write(json_dumps(data))


def provider_label(key: str) -> str:
    try:
        return providers.get(key).label
    except providers.UnknownProvider:
        return key


def summarize(connection: Connection) -> dict:
    return {
        "slug": connection.slug,
        "provider": connection.provider,
        "provider_label": provider_label(connection.provider),
        "name": connection.name,
        "is_active": connection.is_active,
        "health": str(connection.health_label),
    }


def describe(connection: Connection) -> dict:
    """Everything `show` prints. Secret values appear only masked."""
    try:
        secret_names = list(providers.for_connection(connection).secret_names)
    except providers.UnknownProvider:
        secret_names = []
    names = secret_names + sorted(set(connection.secrets) - set(secret_names))
    return {
        **summarize(connection),
        "base_url": connection.base_url,
        "webhook_url": connection.webhook_url(),
        "secrets": {name: encryption.mask(connection.secrets.get(name)) for name in names},
        "webhook_secrets": [encryption.mask(secret) for secret in connection.webhook_secrets],
        "config": connection.config,
        "token_status": connection.get_token_status_display(),
        "last_ok_at": _iso(connection.last_ok_at),
        "last_error_at": _iso(connection.last_error_at),
        "last_error": connection.last_error,
        "consecutive_failures": connection.consecutive_failures,
    }


def format_counts(run: SyncRun) -> str:
    counts = run.counts()
    return (
        f"ajoutés : {counts['added']}, mis à jour : {counts['updated']}, inchangés : {counts['unchanged']}, "
        f"supprimés : {counts['deleted']}, en échec : {counts['failed']}"
    )


def json_dumps(data) -> str:
    return json.dumps(data, ensure_ascii=False, indent=2, default=str)


def _iso(value):
    return value.isoformat() if value else None
