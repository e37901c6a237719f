from apps.core.providers import Provider


class RevolutProvider(Provider):
    key = "revolut"
    label = "Revolut Business"
    uses_oauth = True
    secret_names = ("private_key_pem",)
