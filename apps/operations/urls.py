from django.urls import path

from apps.operations import metrics_view, views

app_name = "operations"
urlpatterns = [
    path("metrics", metrics_view.metrics, name="metrics"),
    path("console/exploitation/", views.dashboard, name="dashboard"),
    path("console/exploitation/jobs/<str:queue>/<str:job_id>/relancer/", views.requeue_job, name="requeue_job"),
    path("console/exploitation/webhooks/<int:event_id>/relancer/", views.replay_event, name="replay_event"),
]
