"""The console's in-process calls: a JSON answer, and a stream that stops when the page goes away."""

from __future__ import annotations

import asyncio

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

from web.upstream import Call, Upstream

stopped = asyncio.Event()


async def echo(request: Request) -> JSONResponse:
    return JSONResponse(
        {
            "auth": request.headers.get("authorization"),
            "query": dict(request.query_params),
            "body": (await request.body()).decode(),
            "client": request.client.host if request.client else None,
        },
        status_code=201,
    )


async def ticks(request: Request) -> StreamingResponse:
    async def forever():
        try:
            n = 0
            while True:
                yield f"data: {n}\n\n".encode()
                n += 1
                await asyncio.sleep(0.01)
        finally:
            stopped.set()

    return StreamingResponse(forever(), media_type="text/event-stream")


APP = Starlette(routes=[Route("/echo", echo, methods=["POST"]), Route("/ticks", ticks)])


async def test_a_call_carries_token_query_body_and_the_browsers_address() -> None:
    answer = await Upstream(APP).send(
        Call("POST", "/echo", token="tok", params={"a": 1, "skip": None, "b": True}, form={"x": "y z"}),
        client=("203.0.113.9", 5000),
    )
    assert answer.status == 201 and answer.ok
    assert answer.json() == {
        "auth": "Bearer tok",
        "query": {"a": "1", "b": "true"},
        "body": "x=y+z",
        "client": "203.0.113.9",
    }


@pytest.mark.timeout(10)
async def test_a_stream_yields_chunks_and_stops_the_app_when_left() -> None:
    stopped.clear()
    received = []
    async with Upstream(APP).stream(Call("GET", "/ticks"), client=("127.0.0.1", 1)) as (status, headers, chunks):
        assert status == 200 and headers["content-type"].startswith("text/event-stream")
        async for chunk in chunks:
            received.append(chunk)
            if len(received) == 3:
                break
    assert received == [b"data: 0\n\n", b"data: 1\n\n", b"data: 2\n\n"]
    await asyncio.wait_for(stopped.wait(), 5)  # the endless generator was closed, not left running
