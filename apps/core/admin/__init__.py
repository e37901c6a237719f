from apps.core.admin import action_runs, api_calls, connections, sync_runs, webhooks  # noqa: F401
