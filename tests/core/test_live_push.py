"""Pushes from synchronous code (requests, jobs) share one Redis connection per process and still arrive."""

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from apps.core import live


def test_twenty_pushes_reuse_one_redis_connection_and_each_arrives(redis_connection):
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)("console.push-test", channel)
    live.push_html("console.push-test", "<p>warm-up</p>")
    assert async_to_sync(layer.receive)(channel)["html"] == "<p>warm-up</p>"

    opened_before = redis_connection.info("stats")["total_connections_received"]
    for n in range(20):
        live.push_html("console.push-test", f"<p>{n}</p>")
    opened = redis_connection.info("stats")["total_connections_received"] - opened_before
    assert opened <= 1  # was one per push (a new event loop, hence a new connection, each time)
    received = [async_to_sync(layer.receive)(channel)["html"] for _ in range(20)]
    assert received == [f"<p>{n}</p>" for n in range(20)]
