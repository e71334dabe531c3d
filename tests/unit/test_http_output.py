"""Output written once per loop turn, after ServerState's before_write commit."""

from __future__ import annotations

import asyncio

from tracker.http import PrebuiltResponse, Request, Response, ServerState

from .http_fake import connect, parse_replies, run_async, settle

OK = PrebuiltResponse(Response.empty(204))


class Recorder:
    """An app that notes the order of its calls with the transports' writes."""

    def __init__(self, events: list[str]) -> None:
        self.events = events

    def handle(self, request: Request) -> PrebuiltResponse:
        self.events.append(f"handle {request.path}")
        return OK


def recording_transport(transport, name: str, events: list[str]) -> None:
    write = transport.write

    def noted(data: bytes) -> None:
        events.append(f"write {name}")
        write(data)

    transport.write = noted


@run_async
async def test_answers_of_a_turn_are_written_after_it_once_each_after_the_commit() -> None:
    events: list[str] = []
    state = ServerState(before_write=lambda: events.append("commit"))
    app = Recorder(events)
    (p1, t1), (p2, t2) = connect(app, state=state), connect(app, state=state)
    recording_transport(t1, "1", events)
    recording_transport(t2, "2", events)
    p1.data_received(b"GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n")
    p2.data_received(b"GET /c HTTP/1.1\r\n\r\n")
    assert t1.written == b"" and t2.written == b""  # nothing before the turn ends
    await settle()
    assert events == ["handle /a", "handle /b", "handle /c", "commit", "write 1", "write 2"]
    assert [r.status for r in parse_replies(t1.take())] == [204, 204]
    assert t1.writes == 1


@run_async
async def test_a_failed_commit_aborts_instead_of_answering() -> None:
    def fail() -> None:
        raise OSError("disk gone")

    state = ServerState(before_write=fail)
    protocol, transport = connect(Recorder([]), state=state)
    protocol.data_received(b"GET /a HTTP/1.1\r\n\r\n")
    await settle()
    assert transport.written == b""
    assert transport.aborted


@run_async
async def test_closing_writes_at_once_but_commits_first() -> None:
    events: list[str] = []
    state = ServerState(before_write=lambda: events.append("commit"))
    protocol, transport = connect(Recorder(events), state=state)
    recording_transport(transport, "1", events)
    protocol.data_received(b"GET /last HTTP/1.1\r\nConnection: close\r\n\r\n")
    assert events == ["handle /last", "commit", "write 1"]
    assert transport.closed
    (reply,) = parse_replies(transport.take())
    assert reply.headers["connection"] == "close"


@run_async
async def test_output_of_a_connection_that_left_is_dropped() -> None:
    state = ServerState()
    protocol, transport = connect(Recorder([]), state=state)
    protocol.data_received(b"GET /a HTTP/1.1\r\n\r\n")
    protocol.connection_lost(None)
    await asyncio.sleep(0)
    state.write_output()
    assert transport.written == b""
