"""The console home's webhook feed, live: every stored or processed webhook is pushed as a row.

A stored event is inserted on top of the feed; a processed (or failed) one replaces its row in place.
Listeners of the group need core.view_console (the "console" prefix is declared in apps.core.live).
While no page listens (the usual case during a burst of deliveries), no row is rendered nor sent: one
Redis ZCOUNT instead of a template render and a group send. Deliveries to process are announced by the worker's
dispatcher, a batch at a time (one ZCOUNT per batch, none in the inbox's request); the others (ignored,
duplicates, refused) by the inbox once stored.
"""

import logging

from django.template.loader import render_to_string

from apps.core import home, live
from apps.core.models import WebhookEvent
from apps.core.signals import webhook_event_processed, webhook_event_stored, webhook_events_queued

logger = logging.getLogger(__name__)

GROUP = "console.webhooks"


def push_stored(sender, event: WebhookEvent, **kwargs):
    _push("core/home/webhook_feed_insert.html", event)


def push_queued(sender, event_ids, **kwargs):
    """A batch of deliveries handed to the worker: its newest rows (the feed shows no more) on top, oldest first."""
    try:
        if not live.has_listeners(GROUP):
            return
        newest = list(home.feed_events().filter(pk__in=event_ids).order_by("-pk")[:home.FEED_SIZE])
        for event in reversed(newest):
            live.push_html(GROUP, render_to_string("core/home/webhook_feed_insert.html", {"row": home.feed_row(event)}))
    except Exception:
        logger.exception("Lignes du flux de webhooks non diffusées (%s événements)", len(event_ids))


def push_processed(sender, event: WebhookEvent, **kwargs):
    _push("core/home/webhook_feed_update.html", event)


def _push(template: str, event: WebhookEvent) -> None:
    # The inbox and the workers send these signals: a feed that cannot render or reach its listeners
    # must never fail them (a missed row is caught up by the next page load).
    try:
        if live.has_listeners(GROUP):
            live.push_html(GROUP, render_to_string(template, {"row": home.feed_row(event)}))
    except Exception:
        logger.exception("Ligne du flux de webhooks non diffusée (événement %s)", event.pk)


def connect() -> None:
    webhook_event_stored.connect(push_stored, sender=WebhookEvent, dispatch_uid="core.live_feed.stored")
    webhook_events_queued.connect(push_queued, sender=WebhookEvent, dispatch_uid="core.live_feed.queued")
    webhook_event_processed.connect(push_processed, sender=WebhookEvent, dispatch_uid="core.live_feed.processed")
