"""The workers' side of the shipper's read API (tracker/runtime/readapi.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httptools
import orjson

from tracker.http.client import AnswerTooLarge, exchange

TIMEOUT_SECONDS = 5.0
MAX_ANSWER_BYTES = 16 << 20


class ShipperUnavailable(Exception):
    """The shipper did not answer (starting, restarting, or its store is down)."""


class ShipperReads:
    def __init__(self, socket_path: Path):
        self._path = socket_path

    async def rows(self, table: str, column: str, value: str) -> list[dict[str, Any]]:
        """Rows of `table` whose `column` is `value`, newest first."""
        return await self._get("/rows?" + urlencode(
            {"table": table, "column": column, "value": value}))

    async def links(self, host: str) -> list[dict[str, Any]]:
        """The short links of `host`, as their newest change rows."""
        return await self._get("/links?" + urlencode({"host": host}))

    async def _get(self, target: str) -> Any:
        request = (f"GET {target} HTTP/1.1\r\nHost: shipper\r\n"
                   "Connection: close\r\n\r\n").encode()
        try:
            async with asyncio.timeout(TIMEOUT_SECONDS):
                reader, writer = await asyncio.open_unix_connection(str(self._path))
                answer = await exchange(reader, writer, request, MAX_ANSWER_BYTES)
        except (OSError, TimeoutError, AnswerTooLarge, httptools.HttpParserError) as e:
            raise ShipperUnavailable(str(e) or type(e).__name__) from None
        if answer.status != 200:
            raise ShipperUnavailable(f"status {answer.status}")
        return orjson.loads(bytes(answer.body))
