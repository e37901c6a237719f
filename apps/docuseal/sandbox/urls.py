from django.urls import path, re_path

from apps.docuseal.sandbox import api, pages

app_name = "docuseal_sandbox"
urlpatterns = [
    path("", pages.index, name="index"),
    path("accounts/<int:pk>/", pages.account_page, name="account"),
    path("s/<str:slug>", pages.signing_form, name="signing_form"),
    path("file/<str:signed>/", api.file, name="file"),
    path("api/user", api.user),
    path("api/templates", api.templates),
    re_path(r"^api/templates/(?P<kind>pdf|docx|html|merge)$", lambda request, kind: api.pro_only_path(request)),
    path("api/templates/<int:template_id>", api.template),
    path("api/submissions", api.submissions),
    path("api/submissions/init", api.submissions_init),
    path("api/submissions/pdf", api.submissions_from_pdf),
    re_path(r"^api/submissions/(?P<kind>docx|html)$", lambda request, kind: api.pro_only_path(request)),
    path("api/submissions/<int:submission_id>", api.submission),
    path("api/submissions/<int:submission_id>/documents", api.submission_documents),
    path("api/submitters", api.submitters),
    path("api/submitters/<int:submitter_id>", api.submitter),
    re_path(r"^api/events/(?P<kind>form|submission)/(?P<event_type>[a-z_]+)$", api.completed_events),
]
