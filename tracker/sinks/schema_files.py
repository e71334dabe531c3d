"""Finding a store's numbered SQL files: `schema/<store>/NNN_name.sql`.

Installed packages carry them as `tracker/_schema/<store>` (setup.py copies
them); a source checkout reads the repository's `schema/<store>`.
"""

from __future__ import annotations

import re
from pathlib import Path

import tracker

_FILE_NAME = re.compile(r"^(\d+)_[A-Za-z0-9_]+\.sql$")


def store_schema_dir(store: str) -> Path:
    """The directory holding `store`'s SQL files (package data, else the repo's)."""
    package = Path(tracker.__file__).resolve().parent
    candidates = (package / "_schema" / store, package.parent / "schema" / store)
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    searched = ", ".join(str(c) for c in candidates)
    raise FileNotFoundError(f"{store} schema directory not found (searched {searched})")


def numbered_sql_files(directory: Path) -> list[tuple[int, Path]]:
    """`(version, path)` of every `NNN_name.sql` file, by version."""
    found: dict[int, Path] = {}
    for path in directory.glob("*.sql"):
        match = _FILE_NAME.match(path.name)
        if match is None:
            raise ValueError(f"schema file name is not NNN_name.sql: {path}")
        version = int(match.group(1))
        if version in found:
            raise ValueError(f"two schema files with version {version}: {found[version]}, {path}")
        found[version] = path
    if not found:
        raise FileNotFoundError(f"no schema files in {directory}")
    return sorted(found.items())
