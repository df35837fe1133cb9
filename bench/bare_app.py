"""The baseline of the hop benchmark: a bare ASGI endpoint under uvicorn, no framework, no proxy."""

BODY = b'{"hops":["bare"]}'


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]})
    await send({"type": "http.response.body", "body": BODY})
