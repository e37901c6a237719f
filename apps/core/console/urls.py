"""Console views under /console/, in the "core" namespace (included by apps/core/urls.py)."""

from django.urls import path

from apps.core.console import action_views, second_factor_views, sync_views

urlpatterns = [
    path("actions/runs/<int:run_id>/", action_views.run_status, name="action_run"),
    path("actions/runs/<int:run_id>/approve/", action_views.approve, name="action_approve"),
    path("actions/runs/<int:run_id>/relaunch/", action_views.relaunch, name="action_relaunch"),
    path("actions/runs/<int:run_id>/refuse/", action_views.refuse_run, name="action_refuse"),
    path("actions/dismiss/", action_views.dismiss, name="action_dismiss"),
    path("actions/bar/<int:content_type_id>/<str:object_id>/", action_views.action_bar, name="action_bar"),
    path("records/<int:content_type_id>/<str:object_id>/live/", action_views.live_state, name="record_live_state"),
    path("actions/<str:key>/<int:content_type_id>/<str:object_id>/confirm/", action_views.confirm,
         name="action_confirm"),
    path("actions/<str:key>/<int:content_type_id>/<str:object_id>/start/", action_views.start, name="action_start"),
    path("second-factor/", second_factor_views.verify, name="second_factor"),
    path("second-factor/enrol/", second_factor_views.enrol, name="second_factor_enrol"),
    path("sync/start/", sync_views.start, name="sync_start"),
    path("sync/<int:run_id>/", sync_views.progress, name="sync_progress"),
    path("sync/<int:run_id>/progress/", sync_views.progress_fragment, name="sync_progress_fragment"),
]
