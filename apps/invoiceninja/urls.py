app_name = "invoiceninja"
urlpatterns = []
