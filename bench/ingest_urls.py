"""bench/ingest.py's URLconf: the console's routes plus the baseline, a bare view doing one INSERT.

The baseline goes through the same server, settings and middleware as the inbox; it reads the body and
stores it in a scratch table (`bench_ingest_scratch`, created by bench/ingest.py) with one INSERT in
autocommit, then answers 200 with a small JSON — the least any inbox that stores before acknowledging does.
"""

from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import JsonResponse
from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt


@csrf_exempt
@login_not_required
def baseline(request):
    body = request.body
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO bench_ingest_scratch (body) VALUES (%s) RETURNING id", [body])
        (row_id,) = cursor.fetchone()
    return JsonResponse({"status": "stored", "id": row_id})


urlpatterns = [
    path("bench/baseline/", baseline),
    path("", include("config.urls")),
]
