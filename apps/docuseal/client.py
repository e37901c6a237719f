"""Typed calls to the DocuSeal API (NOTES §1–5), nothing else.

Base URL: the user gives the instance URL. Hosted DocuSeal (docuseal.com / docuseal.eu, global or EU)
answers on api.docuseal.com / api.docuseal.eu with no `/api` prefix; a self-hosted instance answers under
`<instance>/api` (NOTES §1). `api_base()` decides, so nobody has to know the prefix rule.

Edition: the open-source edition answers Pro-only paths (`/submissions/pdf` ...) with
404 `{"status":404,"message":"This feature is available in Pro Edition: ..."}` (NOTES §3). That answer, and
only that answer, raises ProEditionRequired; the caller records what it learnt on the connection.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from apps.core.http import ApiClient, ClientError

HOSTED_APIS = {
    "docuseal.com": "https://api.docuseal.com",
    "docuseal.eu": "https://api.docuseal.eu",
}
PRO_EDITION_MARK = "Pro Edition"


class ProEditionRequired(ClientError):
    """The instance is the open-source edition: this path exists only in DocuSeal Pro / hosted."""


def api_base(instance_url: str) -> str:
    """API root for an instance URL: hosted -> api.docuseal.<tld> (no prefix), self-hosted -> <url>/api."""
    parts = urlsplit(instance_url.strip())
    host = (parts.hostname or "").lower()
    for domain, api in HOSTED_APIS.items():
        if host == domain or host.endswith("." + domain):
            return api
    path = parts.path.rstrip("/")
    if not path.endswith("/api"):
        path += "/api"
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def is_hosted(instance_url: str) -> bool:
    return api_base(instance_url) in HOSTED_APIS.values()


@dataclass(frozen=True)
class Listing:
    items: list[dict]
    next_cursor: int | None


class DocusealClient(ApiClient):
    default_headers = {"Accept": "application/json"}

    def __init__(self, connection, *, base_url: str | None = None):
        super().__init__(connection, base_url=base_url or api_base(connection.base_url))
        self._without_key = False

    def auth_headers(self) -> dict[str, str]:
        if self._without_key:
            return {}
        return {"X-Auth-Token": self.connection.secret("api_key", "")}

    def error_message(self, response, payload) -> str:
        if isinstance(payload, dict):
            for key in ("error", "message"):
                if isinstance(payload.get(key), str):
                    return payload[key][:300]
        return f"HTTP {response.status_code}"

    def call(self, method: str, path: str, **kwargs):
        try:
            response = self.request(method, path, **kwargs)
        except ClientError as exc:
            if exc.status == 404 and PRO_EDITION_MARK in str(exc):
                raise ProEditionRequired(str(exc), status=404, payload=exc.payload) from None
            raise
        if not response.content:
            return None
        return response.json()

    # Account ------------------------------------------------------------------------------------
    def get_user(self) -> dict:
        """The key's owner: {id, first_name, last_name, email} (NOTES §2; not in the OpenAPI file)."""
        return self.call("GET", "user")

    # Templates ----------------------------------------------------------------------------------
    def list_templates(self, *, limit: int = 100, after: int | None = None, archived: bool = False) -> Listing:
        params = {"limit": limit, "archived": "true" if archived else "false"}
        if after is not None:
            params["after"] = after
        return self._listing(self.call("GET", "templates", params=params))

    def get_template(self, template_id: int) -> dict:
        return self.call("GET", f"templates/{int(template_id)}")

    # Submissions --------------------------------------------------------------------------------
    def create_submission(self, body: dict) -> list[dict]:
        """POST /submissions from a template: answers the array of created submitters (NOTES §5)."""
        return self.call("POST", "submissions", json=body)

    def create_submission_from_pdf(self, body: dict) -> dict:
        """POST /submissions/pdf (Pro/hosted): answers one submission object with its submitters."""
        return self.call("POST", "submissions/pdf", json=body)

    def get_submission(self, submission_id: int) -> dict:
        return self.call("GET", f"submissions/{int(submission_id)}")

    def list_submissions(self, *, status: str | None = None, limit: int = 100, after: int | None = None) -> Listing:
        params = {"limit": limit}
        if status:
            params["status"] = status
        if after is not None:
            params["after"] = after
        return self._listing(self.call("GET", "submissions", params=params))

    def submission_documents(self, submission_id: int) -> list[dict]:
        """Fresh download URLs ({name, url}) — the ones in webhooks expire after 40 minutes (NOTES §4)."""
        answer = self.call("GET", f"submissions/{int(submission_id)}/documents") or {}
        return answer.get("documents") or []

    def archive_submission(self, submission_id: int) -> dict:
        return self.call("DELETE", f"submissions/{int(submission_id)}")

    def completed_submission_events(self, *, before: int | None = None, after: int | None = None,
                                    limit: int = 100) -> Listing:
        """GET /events/submission/completed (undocumented, NOTES §4): `before=t` = completed after Unix time t."""
        params = {"limit": limit}
        if before is not None:
            params["before"] = before
        if after is not None:
            params["after"] = after
        return self._listing(self.call("GET", "events/submission/completed", params=params))

    # Submitters ---------------------------------------------------------------------------------
    def list_submitters(self, *, external_id: str | None = None, submission_id: int | None = None,
                        limit: int = 100) -> Listing:
        params = {"limit": limit}
        if external_id:
            params["external_id"] = external_id
        if submission_id is not None:
            params["submission_id"] = submission_id
        return self._listing(self.call("GET", "submitters", params=params))

    def update_submitter(self, submitter_id: int, body: dict) -> dict:
        return self.call("PUT", f"submitters/{int(submitter_id)}", json=body)

    # Files --------------------------------------------------------------------------------------
    def download(self, url: str) -> bytes:
        """A document or audit-log URL from DocuSeal (absolute, short-lived, no API key needed)."""
        # File URLs are signed by themselves; the API key never travels to another host.
        self._without_key = urlsplit(url).netloc != urlsplit(self.base_url).netloc
        try:
            response = self.request("GET", url, headers={"Accept": "application/pdf"})
        finally:
            self._without_key = False
        return response.content

    @staticmethod
    def _listing(answer) -> Listing:
        answer = answer or {}
        pagination = answer.get("pagination") or {}
        return Listing(items=list(answer.get("data") or []), next_cursor=pagination.get("next"))
