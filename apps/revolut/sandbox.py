"""Stateful emulator of the vendor API, mounted under /sandbox/revolut/ when SANDBOX is on."""

app_name = "revolut_sandbox"
urlpatterns = []
