from apps.core.admin import action_runs, api_calls, connections, sync_runs, webhooks  # noqa: F401
from apps.core.queue_dashboard import register_admin

register_admin()  # django-rq's dashboard entry, for operators only
