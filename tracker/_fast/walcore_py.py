"""The log append of one loop turn's merged record (pure-Python twin of
walcore.pyx, whose docstring says what belongs here)."""

from __future__ import annotations

import os


class WalCore:
    def __init__(self) -> None:
        self._fd = -1
        self._seq = 0
        self._seg_size = 0  # bytes in the current segment, header included
        self.segment_bytes = 0
        self.quota_bytes = 0
        self._bytes_on_disk = 0
        self._appended_events = 0
        self._dirty = False  # bytes were written since the last sync

    def room(self) -> int:
        """How many bytes appends made later may add: what the quota leaves,
        less the header of a new segment they may start."""
        from tracker.wal.format import HEADER_SIZE  # see append_if_room

        return self.quota_bytes - self._bytes_on_disk - HEADER_SIZE

    def append_if_room(self, table_id: int, count: int, body: bytearray, tail: bytes) -> bool:
        """Append one record of `count` rows whose payload is `body` + `tail`,
        with one pwritev of its head, `body` and `tail`, when it fits in the
        current segment and the quota: True. False, with nothing counted, when
        it needs a roll, is over the quota, or the write failed or was short:
        the caller then goes the general way (WalWriter.append)."""
        # Imported here: tracker.wal imports the writer, which imports this.
        from tracker.wal.format import (
            HEADER_SIZE,
            MAX_PAYLOAD_BYTES,
            RECORD_HEAD_SIZE,
            record_head,
            record_seed,
        )

        payload = len(body) + len(tail)
        size = RECORD_HEAD_SIZE + payload
        offset = self._seg_size
        if self._fd < 0 or payload > MAX_PAYLOAD_BYTES or not 0 <= table_id <= 255 \
                or not 0 <= count <= 0xFFFFFFFF:
            return False
        if offset + size > self.segment_bytes and offset > HEADER_SIZE:
            return False  # a roll first
        if self._bytes_on_disk + size > self.quota_bytes:
            return False
        head = record_head(table_id, count, bytes(body) + tail, record_seed(self._seq))
        try:
            written = os.pwritev(self._fd, [head, body, tail], offset)
        except OSError:
            return False
        if written != size:
            return False
        self._seg_size = offset + size
        self._bytes_on_disk += size
        self._appended_events += count
        self._dirty = True
        return True
