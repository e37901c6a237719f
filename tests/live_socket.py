"""A WebSocket driven through config.asgi.application (origin check, session auth, routing, consumer).

channels.testing imports daphne, which the console does not ship, so the handshake is driven with asgiref's
ApplicationCommunicator directly.
"""

from asgiref.testing import ApplicationCommunicator

from config.asgi import application

ORIGIN = b"http://127.0.0.1:8000"


def socket_headers(cookie: bytes = b"", origin: bytes = ORIGIN) -> list[tuple[bytes, bytes]]:
    return [(b"host", b"127.0.0.1:8000"), (b"origin", origin)] + ([(b"cookie", cookie)] if cookie else [])


class LiveSocket(ApplicationCommunicator):
    def __init__(self, path: str, headers):
        super().__init__(application, {
            "type": "websocket", "path": path, "raw_path": path.encode(), "query_string": b"", "headers": headers,
            "subprotocols": [], "client": ["127.0.0.1", 50000], "server": ["127.0.0.1", 8000],
        })

    async def connect(self, timeout=5) -> tuple[bool, int | None]:
        """(accepted, close code): a refused handshake is closed before accept."""
        await self.send_input({"type": "websocket.connect"})
        answer = await self.receive_output(timeout)
        return answer["type"] == "websocket.accept", answer.get("code")

    async def receive_from(self, timeout=5) -> str:
        message = await self.receive_output(timeout)
        assert message["type"] == "websocket.send", message
        return message["text"]

    async def disconnect(self):
        await self.send_input({"type": "websocket.disconnect", "code": 1000})
        await self.wait(1)
