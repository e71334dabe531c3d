"""Sending encoded Native blocks to ClickHouse's HTTP interface.

clickhouse-driver re-encodes every column itself, so the blocks that
tracker/_fast encodes travel over HTTP instead: `POST /?query=INSERT ...
FORMAT Native` with the block as the body, over one kept-alive connection.

Compression (`compression=`):
- "lz4": ClickHouse's own compressed framing with `decompress=1`, the format
  the native protocol uses: frames of at most FRAME_BYTES, each a 16-byte
  checksum, method byte 0x82, u32 compressed size (with the 9-byte header),
  u32 raw size, then the LZ4 block. The checksum is CityHash128, which the
  standard library does not have, so it is sent as zeros with
  `http_native_compression_disable_checksumming_on_decompress=1` (a setting
  since 2017, still there on current releases); TCP checksums the transfer.
- "gzip": `Content-Encoding: gzip` (zlib level 1).
- "none": the raw block (cheapest on a loopback connection).

Credentials travel in the X-ClickHouse-User / X-ClickHouse-Key headers, never
in the URL (URLs end up in logs and error messages).
"""

from __future__ import annotations

import http.client
import ssl
import struct
import time
import urllib.parse
import zlib

import lz4.block

from tracker.sinks.base import RetryableError
from tracker.sinks.clickhouse_errors import error_code, http_error

COMPRESSIONS = ("lz4", "gzip", "none")
FRAME_BYTES = 1 << 20  # ClickHouse's own max_compress_block_size
_LZ4_METHOD = 0x82
_FRAME_HEADER = struct.Struct("<BII")
_NO_CHECKSUM = bytes(16)
# ClickHouse closes idle keep-alive connections after keep_alive_timeout (3 s by
# default); a connection idle longer than this is replaced before it is used.
IDLE_REUSE_S = 2.0
# Failures of a reused connection the server may have closed meanwhile.
_STALE = (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError)


def lz4_frames(data: bytes | memoryview) -> bytes:
    """`data` in ClickHouse's compressed framing (zero checksums, see the module doc)."""
    view = memoryview(data)
    parts = []
    for start in range(0, len(view), FRAME_BYTES):
        raw = view[start : start + FRAME_BYTES]
        packed = lz4.block.compress(raw, store_size=False)
        parts.append(_NO_CHECKSUM)
        parts.append(_FRAME_HEADER.pack(_LZ4_METHOD, len(packed) + 9, len(raw)))
        parts.append(packed)
    return b"".join(parts)


class HttpInserter:
    """One kept-alive HTTP(S) connection to one ClickHouse server, used by one thread."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        user: str = "default",
        password: str = "",
        secure: bool = False,
        compression: str = "lz4",
        connect_timeout: float = 10.0,
        timeout: float = 120.0,
    ) -> None:
        if compression not in COMPRESSIONS:
            raise ValueError(f"compression must be one of {COMPRESSIONS}, got {compression!r}")
        self.host, self.port, self.secure = host, port, secure
        self.compression = compression
        self.connect_timeout, self.timeout = connect_timeout, timeout
        self._headers = {"X-ClickHouse-User": user, "Content-Type": "application/octet-stream"}
        if password:
            self._headers["X-ClickHouse-Key"] = password
        self._params: dict[str, str] = {}
        if compression == "lz4":
            self._params = {
                "decompress": "1",
                "http_native_compression_disable_checksumming_on_decompress": "1",
            }
        elif compression == "gzip":
            self._headers["Content-Encoding"] = "gzip"
        self._conn: http.client.HTTPConnection | None = None
        self._last_used = 0.0

    def insert(self, query: str, block: bytes) -> None:
        """Run `query` (an INSERT ... FORMAT Native) with `block` as its data.

        Raises RetryableError when the server cannot be reached or answers with
        an error about itself, PermanentError when it refuses the values.
        """
        body = self._compress(block)
        path = "/?" + urllib.parse.urlencode({"query": query, **self._params})
        for attempt in (1, 2):
            self._drop_if_idle()
            reused = self._conn is not None
            try:
                status, code, answer = self._post(path, body)
            except _STALE as exc:
                self.close()
                if reused and attempt == 1:
                    continue  # the server closed an idle connection: once more on a new one
                raise self._unreachable(exc) from exc
            except (OSError, http.client.HTTPException) as exc:
                self.close()
                raise self._unreachable(exc) from exc
            if status != 200:
                raise http_error(status, answer, code)
            return

    def _post(self, path: str, body: bytes) -> tuple[int, int | None, bytes]:
        conn = self._connection()
        conn.request("POST", path, body=body, headers=self._headers)
        response = conn.getresponse()
        answer = response.read()
        self._last_used = time.monotonic()
        code = None
        if response.status != 200:
            code = error_code(response.status, answer,
                              response.getheader("X-ClickHouse-Exception-Code"))
        if response.will_close:
            self.close()
        return response.status, code, answer

    def _drop_if_idle(self) -> None:
        if self._conn is not None and time.monotonic() - self._last_used > IDLE_REUSE_S:
            self.close()

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            if self.secure:
                conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                    self.host, self.port, timeout=self.connect_timeout,
                    context=ssl.create_default_context())
            else:
                conn = http.client.HTTPConnection(self.host, self.port,
                                                  timeout=self.connect_timeout)
            try:
                conn.connect()
            except BaseException:
                conn.close()
                raise
            assert conn.sock is not None
            conn.sock.settimeout(self.timeout)  # connected: now the time a query may take
            self._conn = conn
        return self._conn

    def _compress(self, block: bytes) -> bytes:
        if self.compression == "lz4":
            return lz4_frames(block)
        if self.compression == "gzip":
            packer = zlib.compressobj(1, zlib.DEFLATED, 31)  # wbits 31: gzip framing
            return packer.compress(block) + packer.flush()
        return block

    def _unreachable(self, exc: BaseException) -> RetryableError:
        scheme = "https" if self.secure else "http"
        what = " ".join(str(exc).split())[:120] or type(exc).__name__
        return RetryableError(
            f"{scheme}://{self.host}:{self.port}: {type(exc).__name__}: {what}")

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
