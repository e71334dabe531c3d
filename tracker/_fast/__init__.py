"""The hot path: compiled Cython modules, each with a pure-Python twin (`*_py.py`).

The compiled modules are used when all of them are built; otherwise, or when
the environment has TRACKER_NO_EXTENSIONS=1, every name comes from the twins.
All or nothing, so one process never mixes the two. `USING_EXTENSIONS` tells
which was picked.

`OneEventPath` (a single event by GET or POST, or a posted batch, from the
request to its log rows in one call) has no twin: the general request path
is its oracle, and with the twins it is None.

The column buffers and what fills or reads them (`TableBuffer`, `ColumnBatch`,
`JsonRows`, `encode_block`) are loaded on first use: they bring pyarrow and
numpy, which only the shipper needs; a worker never touches them and stays
tens of megabytes smaller.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from typing import Any

if os.environ.get("TRACKER_NO_EXTENSIONS") == "1":
    USING_EXTENSIONS = False
else:
    try:
        for lazy in ("columns", "native", "rowjson"):
            if importlib.util.find_spec(f"tracker._fast.{lazy}") is None:
                raise ImportError(f"tracker._fast.{lazy} is not built")
        from tracker._fast.connection import ConnectionCore, ServerCore
        from tracker._fast.deadline import Deadline
        from tracker._fast.eventcore import EventCore, host_from_url, host_without_port
        from tracker._fast.httpreader import RequestReader
        from tracker._fast.httpwire import header_lines
        from tracker._fast.ids import is_uuid, normalize_uuid, uuid7
        from tracker._fast.ingestcore import IngestCore, TablePending
        from tracker._fast.oneevent import OneEventPath
        from tracker._fast.pathpairs import (
            decode_path_pairs,
            decode_query,
            decode_url_fields,
            known_keys,
        )
        from tracker._fast.request import Request
        from tracker._fast.shmcounter import SharedCounter
        from tracker._fast.walcore import WalCore

        USING_EXTENSIONS = True
    except ImportError:  # not built (e.g. a source checkout without build_ext)
        USING_EXTENSIONS = False

if not USING_EXTENSIONS:
    OneEventPath = None
    from tracker._fast.connection_py import ConnectionCore, ServerCore
    from tracker._fast.deadline_py import Deadline
    from tracker._fast.eventcore_py import EventCore, host_from_url, host_without_port
    from tracker._fast.httpreader_py import RequestReader
    from tracker._fast.httpwire_py import header_lines
    from tracker._fast.ids_py import is_uuid, normalize_uuid, uuid7
    from tracker._fast.ingestcore_py import IngestCore, TablePending
    from tracker._fast.pathpairs_py import (
        decode_path_pairs,
        decode_query,
        decode_url_fields,
        known_keys,
    )
    from tracker._fast.request_py import Request
    from tracker._fast.shmcounter_py import SharedCounter
    from tracker._fast.walcore_py import WalCore

__all__ = [
    "USING_EXTENSIONS",
    "ColumnBatch",
    "ConnectionCore",
    "Deadline",
    "EventCore",
    "IngestCore",
    "JsonRows",
    "OneEventPath",
    "Request",
    "RequestReader",
    "ServerCore",
    "SharedCounter",
    "TableBuffer",
    "TablePending",
    "WalCore",
    "decode_path_pairs",
    "decode_query",
    "decode_url_fields",
    "encode_block",
    "header_lines",
    "host_from_url",
    "host_without_port",
    "is_uuid",
    "known_keys",
    "normalize_uuid",
    "uuid7",
]


# name -> the module defining it (the twin's is the same name plus "_py").
_LAZY = {"ColumnBatch": "columns", "TableBuffer": "columns", "JsonRows": "rowjson",
         "encode_block": "native"}


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    suffix = "" if USING_EXTENSIONS else "_py"
    value = getattr(importlib.import_module(f"tracker._fast.{module_name}{suffix}"), name)
    globals()[name] = value  # once: later lookups do not come here
    return value
