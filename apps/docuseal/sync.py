"""The sync resource of DocuSeal: submissions, newest first (`connection sync <slug>`).

DocuSeal lists by id descending with an `after=<id>` cursor (NOTES §3), and a submission's status changes
long after its creation, so an incremental run walks back until it has passed both the previous run's newest
id and the oldest submission the console still waits on. Each changed submission that belongs to one of the
console's signature requests is applied like a webhook (jobs.apply): statuses, quote, archive.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from apps.core.sync import Page, SyncResource
from apps.docuseal.models import SignatureRequest, SubmissionMirror

PAGE_SIZE = 100


class SubmissionsResource(SyncResource):
    name = "submissions"
    label = _("Soumissions")
    model = SubmissionMirror

    def initial_checkpoint(self, kind, last_success):
        if kind == "full":
            return {}
        pending = SignatureRequest.objects.filter(connection=self.connection, status=SignatureRequest.Status.PENDING) \
            .order_by("submission_id").values_list("submission_id", flat=True).first()
        floor = [value for value in ((last_success or {}).get("high_water"), pending) if value]
        return {"stop_below": min(floor)} if floor else {}

    def fetch_page(self, checkpoint):
        listing = self.client.list_submissions(limit=PAGE_SIZE, after=checkpoint.get("after"))
        items = listing.items
        high_water = max([checkpoint.get("high_water") or 0, *(item["id"] for item in items)])
        next_cursor = listing.next_cursor
        stop_below = checkpoint.get("stop_below")
        done = len(items) < PAGE_SIZE or not next_cursor or bool(stop_below and next_cursor <= stop_below)
        return Page(items=items, done=done, checkpoint={
            **({"stop_below": stop_below} if stop_below else {}), "after": next_cursor, "high_water": high_water})

    def final_checkpoint(self, checkpoint):
        return {"high_water": checkpoint.get("high_water")}

    def apply(self, record, webhook_event=None):
        from apps.docuseal import jobs

        record.status = str(record.payload.get("status") or "")[:12]
        record.save(update_fields=["status"])
        request = SignatureRequest.objects.filter(connection=self.connection,
                                                  submission_id=int(record.external_id)).first()
        if request is not None and (request.is_open or request.archive_state != SignatureRequest.ArchiveState.ARCHIVED):
            jobs.apply(request.pk, record.payload)


RESOURCES = (SubmissionsResource,)
