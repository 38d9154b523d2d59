"""The request lines of one turn of the event loop are written together, in the order the lines
were made: any other record, and a flush, write the waiting lines first."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager

from shop.core.logging import JsonFormatter, JsonLinesHandler, log_request


@contextmanager
def only_handler() -> Iterator[io.StringIO]:
    """configure_logging's handler, alone on the root logger: pytest's own capture, which it adds
    for each phase of a test, set aside within the test."""
    out = io.StringIO()
    handler = JsonLinesHandler(out)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    saved, level = root.handlers[:], root.level
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    try:
        yield out
    finally:
        root.handlers[:] = saved
        root.setLevel(level)


def _request(number: int) -> None:
    log_request(f"r{number}", None, method="GET", route="/x", status=200, duration_ms=1.0)


def _lines(out: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


async def test_request_lines_wait_for_the_end_of_the_turn() -> None:
    with only_handler() as stream:
        _request(1)
        _request(2)
        assert stream.getvalue() == ""
        await asyncio.sleep(0)
    assert [line["request_id"] for line in _lines(stream)] == ["r1", "r2"]
    assert _lines(stream)[0]["message"] == "request" and _lines(stream)[0]["route"] == "/x"


async def test_another_record_keeps_the_order_of_the_lines() -> None:
    with only_handler() as stream:
        _request(1)
        assert stream.getvalue() == ""
        logging.getLogger("shop.other").warning("after the request")
        _request(2)
        assert len(_lines(stream)) == 2
        logging.getLogger().handlers[0].flush()  # as at exit
    assert [line.get("request_id", line["message"]) for line in _lines(stream)] == [
        "r1",
        "after the request",
        "r2",
    ]


def test_without_an_event_loop_a_line_is_written_at_once() -> None:
    with only_handler() as stream:
        _request(1)
    assert [line["request_id"] for line in _lines(stream)] == ["r1"]


def test_a_line_left_by_a_closed_loop_goes_out_with_the_next() -> None:
    with only_handler() as stream:
        loop = asyncio.new_event_loop()

        async def request_in_the_loop() -> None:
            _request(1)

        loop.run_until_complete(request_in_the_loop())
        loop.close()
        _request(2)
    assert [line["request_id"] for line in _lines(stream)] == ["r1", "r2"]
