"""Stateful emulator of the vendor API, mounted under /sandbox/invoiceninja/ when SANDBOX is on."""

app_name = "invoiceninja_sandbox"
urlpatterns = []
