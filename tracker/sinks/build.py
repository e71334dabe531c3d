"""Wiring the configured stores: the one place a `Notify` entry becomes a Sink."""

from __future__ import annotations

from pathlib import Path

from tracker.config import Config, SinkConfig
from tracker.shipper.batching import BatchPolicy
from tracker.sinks.base import Sink


def build_sink(entry: SinkConfig) -> Sink:
    if entry.type == "duckdb":
        from tracker.sinks.duckdb import DuckDBSink

        return DuckDBSink(entry.name, Path(entry.options["Path"]))
    if entry.type == "clickhouse":
        from tracker.sinks.clickhouse import ClickHouseSink

        return ClickHouseSink(entry.name, entry.options)
    raise ValueError(f"store type {entry.type!r} is not available in this version")


def build_sinks(config: Config) -> list[tuple[Sink, dict[str, BatchPolicy]]]:
    return [(build_sink(entry), entry.batching) for entry in config.notify]
