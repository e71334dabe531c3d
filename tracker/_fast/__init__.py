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
        from tracker._fast.ids import is_uuid, normalize_uuid, uuid7
        from tracker._fast.pathpairs import decode_path_pairs, decode_query

        USING_EXTENSIONS = True
    except ImportError:  # not built (e.g. a source checkout without build_ext)
        USING_EXTENSIONS = False

if not USING_EXTENSIONS:
    from tracker._fast.columns_py import ColumnBatch, TableBuffer
    from tracker._fast.ids_py import is_uuid, normalize_uuid, uuid7
    from tracker._fast.pathpairs_py import decode_path_pairs, decode_query

__all__ = [
    "USING_EXTENSIONS",
    "ColumnBatch",
    "TableBuffer",
    "decode_path_pairs",
    "decode_query",
    "is_uuid",
    "normalize_uuid",
    "uuid7",
]
