"""Business records the console owns. Outside systems are linked to these by their own apps."""

from contextlib import contextmanager
from contextvars import ContextVar
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models.signals import pre_delete, pre_save
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from simple_history.models import HistoricalRecords

from apps.core.numbers import format_money, format_rate

CENT = Decimal("0.01")

# Who changed what is recorded (django-simple-history) on each save of a record, in its transaction; these
# stamps change on every save and say nothing a person would look for.
UNHISTORIED = ["created_at", "updated_at"]


def money(value) -> Decimal:
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


class Company(models.Model):
    name = models.CharField(_("raison sociale"), max_length=200)
    is_client = models.BooleanField(_("client"), default=True)
    is_supplier = models.BooleanField(_("fournisseur"), default=False)
    email = models.EmailField(_("e-mail"), blank=True)
    phone = models.CharField(_("téléphone"), max_length=40, blank=True)
    vat_number = models.CharField(_("n° TVA"), max_length=40, blank=True)
    registration_number = models.CharField(_("SIREN ou SIRET"), max_length=20, blank=True,
                                           help_text=_("9 chiffres (SIREN) ou 14 chiffres (SIRET)."))
    address1 = models.CharField(_("adresse"), max_length=200, blank=True)
    postal_code = models.CharField(_("code postal"), max_length=20, blank=True)
    city = models.CharField(_("ville"), max_length=100, blank=True)
    region = models.CharField(_("région ou État"), max_length=100, blank=True)
    country_code = models.CharField(_("pays (ISO)"), max_length=2, default="FR")
    currency = models.CharField(_("devise"), max_length=3, default="EUR")
    # Supplier bank details, used to create a payment counterparty.
    iban = models.CharField(_("IBAN"), max_length=34, blank=True)
    bic = models.CharField(_("BIC"), max_length=11, blank=True)
    # Local details, for a supplier paid without an IBAN (United Kingdom, United States).
    account_no = models.CharField(
        _("numéro de compte (hors IBAN)"), max_length=20, blank=True,
        help_text=_("8 chiffres au Royaume-Uni (avec le sort code), 6 à 17 chiffres aux États-Unis "
                    "(avec le routing number)."),
    )
    sort_code = models.CharField(_("sort code (Royaume-Uni)"), max_length=8, blank=True,
                                 help_text=_("6 chiffres, par exemple 54-01-05."))
    routing_number = models.CharField(_("routing number ABA (États-Unis)"), max_length=11, blank=True,
                                      help_text=_("9 chiffres."))
    created_at = models.DateTimeField(_("créée le"), auto_now_add=True)
    updated_at = models.DateTimeField(_("modifiée le"), auto_now=True)
    history = HistoricalRecords(excluded_fields=UNHISTORIED, verbose_name=_("historique de société"),
                                verbose_name_plural=_("historiques de sociétés"))

    class Meta:
        verbose_name = _("société")
        verbose_name_plural = _("sociétés")
        ordering = ["name"]

    def __str__(self):
        return self.name


class Contact(models.Model):
    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="contacts")
    first_name = models.CharField(_("prénom"), max_length=100, blank=True)
    last_name = models.CharField(_("nom"), max_length=100, blank=True)
    email = models.EmailField(_("e-mail"), blank=True)
    phone = models.CharField(_("téléphone"), max_length=40, blank=True)
    is_primary = models.BooleanField(_("contact principal"), default=False)
    history = HistoricalRecords(verbose_name=_("historique de contact"),
                                verbose_name_plural=_("historiques de contacts"))

    class Meta:
        verbose_name = _("contact")
        verbose_name_plural = _("contacts")
        ordering = ["-is_primary", "last_name", "first_name"]

    def __str__(self):
        return f"{self.first_name} {self.last_name}".strip() or self.email


class LockedDocument(Exception):
    """A line of a document whose lines no longer change (paid, converted) was about to be written."""


_vendor_copy = ContextVar("hub_vendor_copy", default=False)


@contextmanager
def lines_from_vendor():
    """The vendor's copy of a document's lines is written as it is, whatever the hub's lock says.

    The outside system is the truth of what it sent or was paid; the lock guards hand edits.
    """
    token = _vendor_copy.set(True)
    try:
        yield
    finally:
        _vendor_copy.reset(token)


class SalesDocument(models.Model):
    """Shared shape of quotes and invoices: a client, dated lines, computed totals.

    Lines lock once the document has left the draft: a sent document's lines change only after an
    explicit "Nouvelle version" (recorded on its timeline; the document is then sent again, which locks
    them anew); a paid, partly paid, cancelled or converted document's lines never change
    (`FROZEN_STATUSES`, also refused at model level).
    """

    FROZEN_STATUSES: tuple = ()

    company = models.ForeignKey(Company, on_delete=models.PROTECT, related_name="+", verbose_name=_("client"))
    number = models.CharField(_("numéro"), max_length=40, blank=True)
    title = models.CharField(_("objet"), max_length=200, blank=True)
    currency = models.CharField(_("devise"), max_length=3, default="EUR")
    issue_date = models.DateField(_("date"), default=timezone.localdate)
    notes = models.TextField(_("notes"), blank=True)
    subtotal = models.DecimalField(_("total HT"), max_digits=14, decimal_places=2, default=0, editable=False)
    tax_total = models.DecimalField(_("TVA"), max_digits=14, decimal_places=2, default=0, editable=False)
    total = models.DecimalField(_("total TTC"), max_digits=14, decimal_places=2, default=0, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        verbose_name=_("créé par"),
    )
    lines_reopened_at = models.DateTimeField(_("nouvelle version ouverte le"), null=True, blank=True,
                                             editable=False)
    created_at = models.DateTimeField(_("créé le"), auto_now_add=True)
    updated_at = models.DateTimeField(_("modifié le"), auto_now=True)

    class Meta:
        abstract = True

    def __str__(self):
        return self.number or f"#{self.pk}"

    @property
    def lines_frozen(self) -> bool:
        return self.status in self.FROZEN_STATUSES

    @property
    def lines_editable(self) -> bool:
        if self.lines_frozen:
            return False
        return self.status == self.Status.DRAFT or self.lines_reopened_at is not None

    @property
    def may_open_new_version(self) -> bool:
        return not self.lines_editable and not self.lines_frozen

    def recalculate_totals(self, save=True):
        lines = list(self.lines.all())
        self.subtotal = money(sum((line.net_amount for line in lines), Decimal(0)))
        self.tax_total = money(sum((line.tax_amount for line in lines), Decimal(0)))
        self.total = self.subtotal + self.tax_total
        if save:
            self.save(update_fields=["subtotal", "tax_total", "total", "updated_at"])


class DocumentLine(models.Model):
    position = models.PositiveSmallIntegerField(_("ordre"), default=0)
    description = models.CharField(_("désignation"), max_length=500)
    quantity = models.DecimalField(
        _("quantité"), max_digits=12, decimal_places=3, default=1, validators=[MinValueValidator(0)]
    )
    unit_price = models.DecimalField(_("prix unitaire HT"), max_digits=14, decimal_places=2)
    tax_rate = models.DecimalField(
        _("taux de TVA (%)"), max_digits=5, decimal_places=2, default=Decimal("20.00"),
        validators=[MinValueValidator(0)],
    )

    class Meta:
        abstract = True
        ordering = ["position", "id"]

    def __str__(self):
        return self.description

    @property
    def document(self):
        raise NotImplementedError

    @property
    def net_amount(self) -> Decimal:
        return money((self.quantity or 0) * (self.unit_price or 0))

    @property
    def tax_amount(self) -> Decimal:
        return money(self.net_amount * self.tax_rate / 100)


class Quote(SalesDocument):
    class Status(models.TextChoices):
        DRAFT = "draft", _("Brouillon")
        SENT = "sent", _("Envoyé")
        ACCEPTED = "accepted", _("Accepté")
        DECLINED = "declined", _("Refusé")
        EXPIRED = "expired", _("Expiré")
        CONVERTED = "converted", _("Converti en facture")

    FROZEN_STATUSES = (Status.CONVERTED,)

    company = models.ForeignKey(Company, on_delete=models.PROTECT, related_name="quotes", verbose_name=_("client"))
    status = models.CharField(_("statut"), max_length=12, choices=Status.choices, default=Status.DRAFT)
    valid_until = models.DateField(_("valable jusqu'au"), null=True, blank=True)
    history = HistoricalRecords(excluded_fields=UNHISTORIED, verbose_name=_("historique de devis"),
                                verbose_name_plural=_("historiques de devis"))

    class Meta:
        verbose_name = _("devis")
        # Same word in French, not in English: the context gives the plural its own catalog entry.
        verbose_name_plural = pgettext_lazy("pluriel", "devis")
        ordering = ["-issue_date", "-id"]

    def get_absolute_url(self):
        return reverse("admin:hub_quote_change", args=[self.pk])


class QuoteLine(DocumentLine):
    quote = models.ForeignKey(Quote, on_delete=models.CASCADE, related_name="lines")
    history = HistoricalRecords(verbose_name=_("historique de ligne de devis"),
                                verbose_name_plural=_("historiques de lignes de devis"))

    @property
    def document(self):
        return self.quote

    class Meta(DocumentLine.Meta):
        verbose_name = _("ligne de devis")
        verbose_name_plural = _("lignes de devis")


class InvoiceQuerySet(models.QuerySet):
    def overdue(self):
        """Sent or partly paid, due before today: what the home's to-do and the "En retard" filter list."""
        return self.filter(status__in=self.model.UNPAID_STATUSES, due_date__lt=timezone.localdate())


class Invoice(SalesDocument):
    class Status(models.TextChoices):
        DRAFT = "draft", _("Brouillon")
        SENT = "sent", _("Envoyée")
        PARTIAL = "partial", _("Partiellement payée")
        PAID = "paid", _("Payée")
        CANCELLED = "cancelled", _("Annulée")

    FROZEN_STATUSES = (Status.PARTIAL, Status.PAID, Status.CANCELLED)
    UNPAID_STATUSES = (Status.SENT, Status.PARTIAL)

    company = models.ForeignKey(
        Company, on_delete=models.PROTECT, related_name="invoices", verbose_name=_("client")
    )
    quote = models.ForeignKey(
        Quote, null=True, blank=True, on_delete=models.SET_NULL, related_name="invoices", verbose_name=_("devis")
    )
    status = models.CharField(_("statut"), max_length=12, choices=Status.choices, default=Status.DRAFT)
    due_date = models.DateField(_("échéance"), null=True, blank=True)
    amount_paid = models.DecimalField(_("montant payé"), max_digits=14, decimal_places=2, default=0)
    history = HistoricalRecords(excluded_fields=UNHISTORIED, verbose_name=_("historique de facture"),
                                verbose_name_plural=_("historiques de factures"))

    objects = InvoiceQuerySet.as_manager()

    class Meta:
        verbose_name = _("facture")
        verbose_name_plural = _("factures")
        ordering = ["-issue_date", "-id"]

    def get_absolute_url(self):
        return reverse("admin:hub_invoice_change", args=[self.pk])

    @property
    def balance_due(self) -> Decimal:
        return money(self.total - self.amount_paid)

    @property
    def is_overdue(self) -> bool:
        return (
            self.status in self.UNPAID_STATUSES
            and self.due_date is not None
            and self.due_date < timezone.localdate()
        )


class InvoiceLine(DocumentLine):
    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="lines")
    history = HistoricalRecords(verbose_name=_("historique de ligne de facture"),
                                verbose_name_plural=_("historiques de lignes de facture"))

    @property
    def document(self):
        return self.invoice

    class Meta(DocumentLine.Meta):
        verbose_name = _("ligne de facture")
        verbose_name_plural = _("lignes de facture")


class SupplierBill(models.Model):
    class Status(models.TextChoices):
        TO_PAY = "to_pay", _("À payer")
        AWAITING_APPROVAL = "awaiting_approval", _("En attente d'approbation")
        PAYMENT_PENDING = "payment_pending", _("Paiement en cours")
        PAID = "paid", _("Payée")
        PAYMENT_FAILED = "payment_failed", _("Paiement en échec")

    supplier = models.ForeignKey(
        Company, on_delete=models.PROTECT, related_name="supplier_bills", verbose_name=_("fournisseur")
    )
    reference = models.CharField(_("référence"), max_length=100)
    description = models.CharField(_("objet"), max_length=300, blank=True)
    amount = models.DecimalField(
        _("montant TTC"), max_digits=14, decimal_places=2, validators=[MinValueValidator(Decimal("0.01"))]
    )
    currency = models.CharField(_("devise"), max_length=3, default="EUR")
    issue_date = models.DateField(_("date"), default=timezone.localdate)
    due_date = models.DateField(_("échéance"), null=True, blank=True)
    status = models.CharField(_("statut"), max_length=20, choices=Status.choices, default=Status.TO_PAY)
    paid_at = models.DateTimeField(_("payée le"), null=True, blank=True)
    created_at = models.DateTimeField(_("créée le"), auto_now_add=True)
    updated_at = models.DateTimeField(_("modifiée le"), auto_now=True)
    history = HistoricalRecords(excluded_fields=UNHISTORIED, verbose_name=_("historique de facture fournisseur"),
                                verbose_name_plural=_("historiques de factures fournisseurs"))

    class Meta:
        verbose_name = _("facture fournisseur")
        verbose_name_plural = _("factures fournisseurs")
        ordering = ["-issue_date", "-id"]

    def __str__(self):
        return f"{self.reference} — {self.supplier}"

    def get_absolute_url(self):
        return reverse("admin:hub_supplierbill_change", args=[self.pk])


class Payment(models.Model):
    """Money that moved: a client paying an invoice, or the console paying a supplier bill."""

    class Direction(models.TextChoices):
        INCOMING = "in", _("Encaissement")
        OUTGOING = "out", _("Décaissement")

    direction = models.CharField(_("sens"), max_length=3, choices=Direction.choices)
    invoice = models.ForeignKey(
        Invoice, null=True, blank=True, on_delete=models.PROTECT, related_name="payments", verbose_name=_("facture")
    )
    supplier_bill = models.ForeignKey(
        SupplierBill, null=True, blank=True, on_delete=models.PROTECT, related_name="payments",
        verbose_name=_("facture fournisseur"),
    )
    amount = models.DecimalField(_("montant"), max_digits=14, decimal_places=2)
    currency = models.CharField(_("devise"), max_length=3, default="EUR")
    date = models.DateField(_("date"), default=timezone.localdate)
    source = models.CharField(_("source"), max_length=32)
    external_id = models.CharField(_("identifiant externe"), max_length=128, blank=True)
    created_at = models.DateTimeField(_("enregistré le"), auto_now_add=True)
    history = HistoricalRecords(excluded_fields=["created_at"], verbose_name=_("historique de paiement"),
                                verbose_name_plural=_("historiques de paiements"))

    class Meta:
        verbose_name = _("paiement")
        verbose_name_plural = _("paiements")
        ordering = ["-date", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["source", "external_id"], condition=~models.Q(external_id=""),
                name="payment_unique_external",
            ),
        ]

    def __str__(self):
        return f"{format_money(self.amount, self.currency)} ({self.get_direction_display()})"


class ExchangeRate(models.Model):
    """What one unit of a currency was worth in the reference currency on a day, as an admin typed it."""

    currency = models.CharField(_("devise"), max_length=3)
    rate = models.DecimalField(_("valeur d'une unité dans la devise de référence"), max_digits=18, decimal_places=8,
                               validators=[MinValueValidator(Decimal("0.00000001"))])
    valid_on = models.DateField(_("taux du"), default=timezone.localdate)
    source = models.CharField(_("source"), max_length=100, blank=True,
                              help_text=_("Par exemple : cours de référence de la BCE."))
    created_at = models.DateTimeField(_("saisi le"), auto_now_add=True)
    updated_at = models.DateTimeField(_("modifié le"), auto_now=True)

    class Meta:
        verbose_name = _("taux de change")
        verbose_name_plural = pgettext_lazy("pluriel", "taux de change")
        ordering = ["currency", "-valid_on"]
        constraints = [models.UniqueConstraint(fields=["currency", "valid_on"], name="exchange_rate_one_per_day")]

    def __str__(self):
        return f"1 {self.currency} = {format_rate(self.rate)} ({self.valid_on:%d/%m/%Y})"

    def save(self, *args, **kwargs):
        self.currency = self.currency.upper()
        super().save(*args, **kwargs)


def _refuse_frozen_line_write(sender, instance, origin=None, **kwargs):
    if _vendor_copy.get():
        return
    if origin is not None and getattr(origin, "model", type(origin)) is not sender:
        return  # the document itself is being deleted, its lines with it
    document = type(instance.document).objects.filter(pk=instance.document.pk).only("status").first()
    if document is not None and document.lines_frozen:
        raise LockedDocument(
            _("Les lignes de %(document)s (%(status)s) ne changent plus.")
            % {"document": document, "status": document.get_status_display()})


for line_model in (QuoteLine, InvoiceLine):
    pre_save.connect(_refuse_frozen_line_write, sender=line_model, dispatch_uid=f"frozen-{line_model.__name__}")
    pre_delete.connect(_refuse_frozen_line_write, sender=line_model, dispatch_uid=f"frozen-del-{line_model.__name__}")
