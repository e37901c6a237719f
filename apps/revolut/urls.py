app_name = "revolut"
urlpatterns = []
