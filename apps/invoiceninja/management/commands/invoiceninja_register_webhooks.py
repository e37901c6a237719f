from django.core.management.base import BaseCommand, CommandError

from apps.core.http import ApiError
from apps.core.models import Connection
from apps.invoiceninja.webhook_registration import register_webhooks


class Command(BaseCommand):
    help = "Enregistre (idempotent) les webhooks de la console dans Invoice Ninja pour une connexion."

    def add_arguments(self, parser):
        parser.add_argument("slug", help="Identifiant (slug) de la connexion Invoice Ninja")

    def handle(self, *args, slug, **options):
        connection = Connection.objects.filter(provider="invoiceninja", slug=slug).first()
        if connection is None:
            raise CommandError(f"Aucune connexion Invoice Ninja « {slug} ».")
        try:
            report = register_webhooks(connection)
        except (ApiError, ValueError) as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(report.summary())
