"""The hot path: compiled Cython modules, each with a pure-Python twin (`*_py.py`).

The compiled modules are used when all of them are built; otherwise, or when
the environment has TRACKER_NO_EXTENSIONS=1, every name comes from the twins.
All or nothing, so one process never mixes the two. `USING_EXTENSIONS` tells
which was picked.
"""

from __future__ import annotations

import os

if os.environ.get("TRACKER_NO_EXTENSIONS") == "1":
    USING_EXTENSIONS = False
else:
    try:
        from tracker._fast.columns import ColumnBatch, TableBuffer
        from tracker._fast.eventcore import EventCore, host_from_url, host_without_port
        from tracker._fast.httpreader import RequestReader
        from tracker._fast.httpwire import header_lines
        from tracker._fast.ids import is_uuid, normalize_uuid, uuid7
        from tracker._fast.native import encode_block
        from tracker._fast.pathpairs import decode_path_pairs, decode_query
        from tracker._fast.rowjson import JsonRows
        from tracker._fast.shmcounter import SharedCounter

        USING_EXTENSIONS = True
    except ImportError:  # not built (e.g. a source checkout without build_ext)
        USING_EXTENSIONS = False

if not USING_EXTENSIONS:
    from tracker._fast.columns_py import ColumnBatch, TableBuffer
    from tracker._fast.eventcore_py import EventCore, host_from_url, host_without_port
    from tracker._fast.httpreader_py import RequestReader
    from tracker._fast.httpwire_py import header_lines
    from tracker._fast.ids_py import is_uuid, normalize_uuid, uuid7
    from tracker._fast.native_py import encode_block
    from tracker._fast.pathpairs_py import decode_path_pairs, decode_query
    from tracker._fast.rowjson_py import JsonRows
    from tracker._fast.shmcounter_py import SharedCounter

__all__ = [
    "USING_EXTENSIONS",
    "ColumnBatch",
    "EventCore",
    "JsonRows",
    "RequestReader",
    "SharedCounter",
    "TableBuffer",
    "decode_path_pairs",
    "decode_query",
    "encode_block",
    "header_lines",
    "host_from_url",
    "host_without_port",
    "is_uuid",
    "normalize_uuid",
    "uuid7",
]
