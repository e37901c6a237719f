"""The console's own 404 page even with DEBUG on (the demo runs with it): never Django's list of URL patterns.

With DEBUG off Django renders templates/404.html itself; with DEBUG on it answers its technical page, which this
middleware replaces with the same console page. Other 404 answers (the console's French fragments, the
emulators' JSON errors) pass untouched.
"""

from django.conf import settings
from django.shortcuts import render

TECHNICAL_404_MARK = b"DEBUG = True</code>"


class ConsoleNotFoundMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (settings.DEBUG and response.status_code == 404
                and response.get("Content-Type", "").startswith("text/html")
                and not getattr(response, "streaming", False) and TECHNICAL_404_MARK in response.content):
            return render(request, "404.html", status=404)
        return response
