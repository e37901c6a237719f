from apps.core.providers import Provider


class InvoiceNinjaProvider(Provider):
    key = "invoiceninja"
    label = "Invoice Ninja"
    secret_names = ("api_token",)
