"""The limits the Exploitation page colours against; deploy/prometheus/alerts.yml fires on the same numbers.

tests/operations/test_alert_rules.py reads alerts.yml and checks each figure here appears in its rule, so
the page and the alerts cannot drift apart.
"""

OLDEST_WAITING_WEBHOOK_SECONDS = 120  # an event still received/queued after 2 minutes
SYNC_STALE_PERIODS = 3  # a sync not successful for 3 × its period
REFRESH_TOKEN_WARNING_SECONDS = 7 * 24 * 3600  # a refresh token expiring within 7 days
QUEUE_GROWTH_MINUTES = 10  # a queue growing for 10 minutes (the page: its oldest job waits that long)
SERVER_ERROR_RATIO = 0.01  # more than 1 % of responses are 5xx
MIN_WORKERS_ALIVE = 1
