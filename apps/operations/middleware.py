"""Counts every HTTP response by status class into one Redis hash, shared by all web processes.

One HINCRBY per response; Redis being down never turns a response into an error (the count is lost).
`console_http_responses_total` (collectors) reads the hash; the 5xx alert divides its rates.
"""

import logging

from redis.exceptions import RedisError

from apps.operations.figures import HTTP_RESPONSES_KEY, redis_connection

logger = logging.getLogger(__name__)


class ResponseCounterMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        try:
            redis_connection().hincrby(HTTP_RESPONSES_KEY, f"{response.status_code // 100}xx", 1)
        except RedisError as exc:
            logger.debug("Compteur de réponses indisponible : %s", type(exc).__name__)
        return response
