"""Files under /tr/v1/pub/ from `StaticDirectory`: no path traversal, ETag and Last-Modified.

Files are read in a thread (never on the event loop) and served whole, up to
MAX_FILE_BYTES: this is for a tracking script and its assets, not a CDN.
"""

from __future__ import annotations

import asyncio
import email.utils
import hashlib
import mimetypes
import os
import stat
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from tracker.http import Request, Response

PREFIX = "/tr/v1/pub/"
MAX_FILE_BYTES = 16 << 20
CACHE = ("Cache-Control", "public, max-age=300")


class StaticFiles:
    def __init__(self, directory: Path):
        self._root = directory.resolve()

    def resolve(self, url_path: str) -> Path | None:
        """The file a URL path names inside the root, or None (traversal, hidden, missing)."""
        relative = unquote(url_path[len(PREFIX):], errors="strict")
        parts = relative.split("/")
        if not relative or "\x00" in relative or "\\" in relative or any(
                p in ("", ".", "..") or p.startswith(".") for p in parts):
            return None
        candidate = (self._root / relative).resolve()
        if not candidate.is_relative_to(self._root):
            return None  # a symlink pointing outside
        return candidate

    def handle(self, request: Request) -> Any:
        try:
            path = self.resolve(request.path)
        except UnicodeDecodeError:
            path = None
        if path is None:
            return Response.error(404, "no such file")
        return self._serve(path, request)

    async def _serve(self, path: Path, request: Request) -> Response:
        loop = asyncio.get_running_loop()
        found = await loop.run_in_executor(None, _read, path)
        if found is None:
            return Response.error(404, "no such file")
        body, mtime = found
        etag = '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'
        last_modified = email.utils.formatdate(mtime, usegmt=True)
        headers = [("ETag", etag), ("Last-Modified", last_modified), CACHE]
        if _not_modified(request, etag, mtime):
            return Response.empty(304, headers)
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        if content_type.startswith("text/") or content_type in (
                "application/javascript", "application/json"):
            content_type += "; charset=utf-8"
        return Response.raw(200, content_type, body, [*headers,
                                                      ("X-Content-Type-Options", "nosniff")])


def _read(path: Path) -> tuple[bytes, float] | None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_FILE_BYTES:
            return None
        with os.fdopen(fd, "rb", closefd=False) as f:
            return f.read(MAX_FILE_BYTES + 1), info.st_mtime
    finally:
        os.close(fd)


def _not_modified(request: Request, etag: str, mtime: float) -> bool:
    h = request.headers
    if "if-none-match" in h:
        return etag in [t.strip() for t in h["if-none-match"].split(",")] or \
            h["if-none-match"].strip() == "*"
    since = h.get("if-modified-since")
    if since:
        try:
            parsed = email.utils.parsedate_to_datetime(since).timestamp()
        except (TypeError, ValueError):
            return False
        return int(mtime) <= int(parsed)
    return False
