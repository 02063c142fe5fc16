"""ASGI middleware of the web console."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class SendAfterCommit:
    """Hold each response until the request's dependencies have finished.

    ``get_session`` commits when its ``yield`` resumes, and FastAPI runs that (scope "request") only after
    the response has gone out: without this a browser following a redirect after a POST could read the
    database before the POST's writes were committed, and a failed commit would still have answered 303.
    Held here, the client sees nothing until the commit is done, and a failing commit becomes a 500.
    Server-sent event streams pass straight through.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        held: list[Message] = []
        streaming = False

        async def hold(message: Message) -> None:
            nonlocal streaming
            if message["type"] == "http.response.start":
                content_type = dict(message.get("headers", [])).get(b"content-type", b"")
                streaming = content_type.startswith(b"text/event-stream")
            if streaming:
                await send(message)
            else:
                held.append(message)

        await self.app(scope, receive, hold)
        for message in held:
            await send(message)
