"""The typed configuration: every key, its default, and validation at load.

A config file is one JSON object with CamelCase keys (compatible with the
project's predecessor). `load_config` returns a `Config` or raises
`ConfigError` carrying one human sentence per problem.
"""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import orjson

from tracker.shipper.batching import BatchPolicy, default_policies

SINK_TYPES = ("duckdb", "clickhouse", "nats", "facebook", "cassandra")
# Stores this version can deliver to; the others are validated but refused at start.
# The internal sink keeping the short links file (tracker/links/sink.py).
RESERVED_SINK_NAME = "links"
IMPLEMENTED_SINK_TYPES = ("duckdb", "clickhouse")
FSYNC_MODES = ("always", "interval", "never")
STRATEGIES = ("immediate", "time", "size", "hybrid", "memory", "adaptive")


class ConfigError(Exception):
    """The config cannot be used; `problems` holds one sentence per problem."""

    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class ListenAddress:
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host or '*'}:{self.port}"


@dataclass(frozen=True)
class SinkConfig:
    """One `Notify` entry."""

    name: str
    type: str
    options: dict[str, Any]
    batching: dict[str, BatchPolicy]


@dataclass(frozen=True)
class Config:
    proxy_port: ListenAddress = ListenAddress("", 8080)
    proxy_port_tls: ListenAddress | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    use_local_tls: bool = False
    letsencrypt_domains: tuple[str, ...] = ()
    letsencrypt_directory: str = "https://acme-v02.api.letsencrypt.org/directory"
    letsencrypt_email: str | None = None
    workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    data_directory: Path = Path("./data")
    fsync: str = "interval"
    fsync_interval_ms: int = 50
    max_disk_mb: int = 10240
    wal_segment_mb: int = 64
    max_body_bytes: int = 1048576
    max_header_bytes: int = 16384
    max_url_bytes: int = 8192
    max_connections: int = 10000
    connection_timeout: float = 30.0
    header_timeout: float = 10.0
    shutdown_timeout: float = 10.0
    rate_limit_per_day: int = 0
    trusted_proxies: tuple[str, ...] = ()
    allow_origin: tuple[str, ...] = ("*",)
    domains: tuple[str, ...] = ()
    admin_tokens: tuple[str, ...] = ()
    anonymize_ip: bool = True
    hash_secret: str | None = None
    cookieless: bool = False
    geoip_database: str | None = None
    data_retention_days: int = 0
    retention: dict[str, int] = field(default_factory=dict)
    prune_old_data: bool = False
    proxy_url: str | None = None
    static_directory: str | None = None
    log_level: str = "info"
    notify: tuple[SinkConfig, ...] = ()

    @property
    def wal_directory(self) -> Path:
        return self.data_directory / "wal"

    @property
    def run_directory(self) -> Path:
        return self.data_directory / "run"

    def as_json(self) -> dict[str, Any]:
        """The effective settings under their config-file names (secrets masked)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            key = _FIELD_TO_KEY[f.name]
            value = getattr(self, f.name)
            if f.name == "notify":
                value = [
                    {"Name": s.name, "Type": s.type, **_mask(s.options),
                     "Tables": {t: vars_of(p) for t, p in s.batching.items()}}
                    for s in value
                ]
            elif f.name in ("hash_secret",) and value:
                value = "***"
            elif f.name == "admin_tokens":
                value = [f"{len(value)} token digest(s)"] if value else []
            elif isinstance(value, ListenAddress | Path):
                value = str(value)
            elif isinstance(value, tuple):
                value = list(value)
            out[key] = value
        return out


def vars_of(policy: BatchPolicy) -> dict[str, Any]:
    return {f.name: getattr(policy, f.name) for f in fields(policy)}


def _mask(options: dict[str, Any]) -> dict[str, Any]:
    secret = ("Password", "AccessToken")
    return {k: ("***" if k in secret and v else v) for k, v in options.items()}


# CamelCase config key -> Config attribute.
_KEY_TO_FIELD = {
    "ProxyPort": "proxy_port",
    "ProxyPortTLS": "proxy_port_tls",
    "TLSCert": "tls_cert",
    "TLSKey": "tls_key",
    "UseLocalTLS": "use_local_tls",
    "LetsEncryptDomains": "letsencrypt_domains",
    "LetsEncryptDirectory": "letsencrypt_directory",
    "LetsEncryptEmail": "letsencrypt_email",
    "Workers": "workers",
    "DataDirectory": "data_directory",
    "Fsync": "fsync",
    "FsyncIntervalMs": "fsync_interval_ms",
    "MaxDiskMB": "max_disk_mb",
    "WalSegmentMB": "wal_segment_mb",
    "MaxBodyBytes": "max_body_bytes",
    "MaxHeaderBytes": "max_header_bytes",
    "MaxUrlBytes": "max_url_bytes",
    "MaxConnections": "max_connections",
    "ConnectionTimeout": "connection_timeout",
    "HeaderTimeout": "header_timeout",
    "ShutdownTimeout": "shutdown_timeout",
    "RateLimitPerDay": "rate_limit_per_day",
    "TrustedProxies": "trusted_proxies",
    "AllowOrigin": "allow_origin",
    "Domains": "domains",
    "AdminTokens": "admin_tokens",
    "AnonymizeIP": "anonymize_ip",
    "HashSecret": "hash_secret",
    "Cookieless": "cookieless",
    "GeoIPDatabase": "geoip_database",
    "DataRetentionDays": "data_retention_days",
    "Retention": "retention",
    "PruneOldData": "prune_old_data",
    "ProxyUrl": "proxy_url",
    "StaticDirectory": "static_directory",
    "LogLevel": "log_level",
    "Notify": "notify",
}
_FIELD_TO_KEY = {v: k for k, v in _KEY_TO_FIELD.items()}

_SINK_KEYS: dict[str, dict[str, Any]] = {
    "duckdb": {"Path": None},
    "clickhouse": {
        "Host": "localhost", "Port": 9000, "HttpPort": 8123, "Database": "tracker",
        "User": "default", "Password": "", "Secure": False, "Cluster": None,
    },
    "nats": {"Url": "nats://127.0.0.1:4222", "Subject": "tracker.events", "Consume": []},
    "facebook": {"PixelId": None, "AccessToken": None, "Url": "https://graph.facebook.com"},
    "cassandra": {"Hosts": ["localhost:9042"], "Keyspace": "tracker"},
}
_BATCH_KEYS = ("BatchingEnabled", "MaxBatchSize", "MaxBatchTime", "MaxBatchBytes", "Tables")
_TABLE_BATCH_KEYS = ("Strategy", "MaxBatchSize", "MaxBatchTime", "MaxBatchBytes", "TargetFlushMs")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m)?\s*$")


class _Checker:
    """Collects problems while converting raw values; one sentence each."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def fail(self, key: str, message: str) -> None:
        self.problems.append(f"{key}: {message}")

    def integer(self, key: str, value: Any, lo: int, hi: int | None = None) -> int | None:
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(key, f"must be a whole number, got {value!r}")
            return None
        if value < lo or (hi is not None and value > hi):
            bound = f"between {lo} and {hi}" if hi is not None else f"at least {lo}"
            self.fail(key, f"must be {bound}, got {value}")
            return None
        return value

    def number(self, key: str, value: Any, lo: float) -> float | None:
        if isinstance(value, bool) or not isinstance(value, int | float) or value < lo:
            self.fail(key, f"must be a number of at least {lo}, got {value!r}")
            return None
        return float(value)

    def boolean(self, key: str, value: Any) -> bool | None:
        if not isinstance(value, bool):
            self.fail(key, f"must be true or false, got {value!r}")
            return None
        return value

    def string(self, key: str, value: Any) -> str | None:
        if not isinstance(value, str) or not value:
            self.fail(key, f"must be a non-empty string, got {value!r}")
            return None
        return value

    def strings(self, key: str, value: Any) -> tuple[str, ...] | None:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            self.fail(key, "must be a list of non-empty strings")
            return None
        return tuple(value)

    def listen(self, key: str, value: Any) -> ListenAddress | None:
        if isinstance(value, int) and not isinstance(value, bool):
            value = f":{value}"
        if not isinstance(value, str) or ":" not in value:
            self.fail(key, f'must look like ":8080" or "127.0.0.1:8080", got {value!r}')
            return None
        host, _, port = value.rpartition(":")
        host = host.strip("[]")
        if not port.isdigit() or not 0 <= int(port) <= 65535:
            self.fail(key, f"has an invalid port in {value!r}")
            return None
        return ListenAddress(host, int(port))

    def duration(self, key: str, value: Any) -> float | None:
        if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
            return float(value)
        match = _DURATION.match(value) if isinstance(value, str) else None
        if not match:
            self.fail(key, f'must be a duration like "2s", "500ms" or 2, got {value!r}')
            return None
        scale = {"ms": 0.001, "s": 1.0, "m": 60.0, None: 1.0}[match.group(2)]
        return float(match.group(1)) * scale


def _convert(c: _Checker, key: str, value: Any) -> Any:
    """Convert one top-level key; returns None on a problem (already recorded)."""
    if key in ("ProxyPort", "ProxyPortTLS"):
        return c.listen(key, value)
    if key in ("TLSCert", "TLSKey", "HashSecret", "GeoIPDatabase", "StaticDirectory",
               "ProxyUrl", "LogLevel", "LetsEncryptDirectory", "LetsEncryptEmail"):
        return c.string(key, value)
    if key in ("UseLocalTLS", "AnonymizeIP", "Cookieless", "PruneOldData"):
        return c.boolean(key, value)
    if key in ("LetsEncryptDomains", "Domains", "AllowOrigin"):
        return c.strings(key, value)
    if key == "DataDirectory":
        s = c.string(key, value)
        return Path(s) if s else None
    if key == "Fsync":
        if value not in FSYNC_MODES:
            c.fail(key, f"must be one of {', '.join(FSYNC_MODES)}, got {value!r}")
            return None
        return value
    limits = {
        "Workers": (1, 256), "FsyncIntervalMs": (1, 60000), "MaxDiskMB": (1, None),
        "WalSegmentMB": (1, 1024), "MaxBodyBytes": (1024, 1 << 30),
        "MaxHeaderBytes": (1024, 1 << 20), "MaxUrlBytes": (256, 1 << 20),
        "MaxConnections": (1, 1_000_000), "RateLimitPerDay": (0, None),
        "DataRetentionDays": (0, None),
    }
    if key in limits:
        lo, hi = limits[key]
        return c.integer(key, value, lo, hi)
    if key in ("ConnectionTimeout", "HeaderTimeout", "ShutdownTimeout"):
        return c.number(key, value, 0.01)
    if key == "TrustedProxies":
        cidrs = c.strings(key, value)
        for cidr in cidrs or ():
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                c.fail(key, f"{cidr!r} is not an IP address or CIDR")
        return cidrs
    if key == "AdminTokens":
        digests = c.strings(key, value)
        for d in digests or ():
            if not re.fullmatch(r"[0-9a-fA-F]{64}", d):
                c.fail(key, "each entry must be the SHA-256 hex digest (64 hex digits) of a token")
        return tuple(d.lower() for d in digests) if digests else digests
    if key == "Retention":
        if not isinstance(value, dict):
            c.fail(key, 'must be an object like {"events": 365}')
            return None
        return {t: c.integer(f"Retention.{t}", d, 0) for t, d in value.items()}
    raise AssertionError(key)


def _sink_batching(c: _Checker, where: str, entry: dict[str, Any]) -> dict[str, BatchPolicy]:
    policies = dict(default_policies(store=entry.get("Type", "")))
    enabled = entry.get("BatchingEnabled", True)
    if c.boolean(f"{where}.BatchingEnabled", enabled) is None:
        return policies
    if not enabled:
        return {t: BatchPolicy(strategy="immediate") for t in policies}
    overrides: dict[str, Any] = {}
    if "MaxBatchSize" in entry:
        overrides["max_rows"] = c.integer(f"{where}.MaxBatchSize", entry["MaxBatchSize"], 1)
    if "MaxBatchTime" in entry:
        overrides["max_age_s"] = c.duration(f"{where}.MaxBatchTime", entry["MaxBatchTime"])
    if "MaxBatchBytes" in entry:
        overrides["max_bytes"] = c.integer(f"{where}.MaxBatchBytes", entry["MaxBatchBytes"], 1)
    overrides = {k: v for k, v in overrides.items() if v is not None}
    for table, policy in policies.items():
        if policy.strategy != "immediate":
            policies[table] = BatchPolicy(**{**vars_of(policy), **overrides})
    tables = entry.get("Tables", {})
    if not isinstance(tables, dict):
        c.fail(f"{where}.Tables", "must be an object keyed by table name")
        return policies
    for table, spec in tables.items():
        tw = f"{where}.Tables.{table}"
        if not isinstance(spec, dict):
            c.fail(tw, "must be an object")
            continue
        for k in spec:
            if k not in _TABLE_BATCH_KEYS:
                c.fail(tw, f"unknown key {k!r} (known: {', '.join(_TABLE_BATCH_KEYS)})")
        base = vars_of(policies.get(table, BatchPolicy(strategy="hybrid")))
        if "Strategy" in spec:
            if spec["Strategy"] not in STRATEGIES:
                c.fail(f"{tw}.Strategy", f"must be one of {', '.join(STRATEGIES)}")
            else:
                base["strategy"] = spec["Strategy"]
        if "MaxBatchSize" in spec:
            base["max_rows"] = c.integer(f"{tw}.MaxBatchSize", spec["MaxBatchSize"], 1)
        if "MaxBatchTime" in spec:
            base["max_age_s"] = c.duration(f"{tw}.MaxBatchTime", spec["MaxBatchTime"])
        if "MaxBatchBytes" in spec:
            base["max_bytes"] = c.integer(f"{tw}.MaxBatchBytes", spec["MaxBatchBytes"], 1)
        if "TargetFlushMs" in spec:
            base["target_flush_ms"] = c.number(f"{tw}.TargetFlushMs", spec["TargetFlushMs"], 1)
        if None not in base.values():
            policies[table] = BatchPolicy(**base)
    return policies


def _notify(c: _Checker, value: Any, data_dir: Path) -> tuple[SinkConfig, ...]:
    if not isinstance(value, list) or not value:
        c.fail("Notify", "must be a non-empty list of stores, e.g. [{\"Type\": \"duckdb\"}]")
        return ()
    sinks: list[SinkConfig] = []
    names: set[str] = set()
    for i, entry in enumerate(value):
        where = f"Notify[{i}]"
        if not isinstance(entry, dict):
            c.fail(where, "must be an object with a Type")
            continue
        kind = entry.get("Type")
        if kind not in SINK_TYPES:
            c.fail(f"{where}.Type", f"must be one of {', '.join(SINK_TYPES)}, got {kind!r}")
            continue
        known = {"Type", "Name", *_SINK_KEYS[kind], *_BATCH_KEYS}
        for k in entry:
            if k not in known:
                c.fail(where, f"unknown key {k!r} for Type {kind!r}")
        options = {k: entry.get(k, default) for k, default in _SINK_KEYS[kind].items()}
        if kind == "duckdb":
            options["Path"] = str(Path(options["Path"] or data_dir / "tracker.duckdb"))
        name = entry.get("Name") or (kind if kind not in names else f"{kind}{i}")
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", name):
            c.fail(f"{where}.Name", "must be 1-64 letters, digits, '_' or '-'")
            continue
        if name in names:
            c.fail(f"{where}.Name", f"{name!r} is used twice; give each store a unique Name")
        if name == RESERVED_SINK_NAME:
            c.fail(f"{where}.Name", f"{name!r} is reserved for the short links; pick another")
        names.add(name)
        sinks.append(SinkConfig(name, kind, options, _sink_batching(c, where, entry)))
    return tuple(sinks)


def parse_config(raw: Any, *, strict: bool) -> tuple[Config, list[str]]:
    """Build a Config from a decoded JSON value.

    Returns the config and warnings; raises ConfigError with every problem.
    Unknown keys are problems when `strict` (tracker check), warnings otherwise.
    """
    if not isinstance(raw, dict):
        raise ConfigError(["the config must be a JSON object"])
    c = _Checker()
    warnings: list[str] = []
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in _KEY_TO_FIELD:
            msg = f"{key}: unknown key (check the spelling; keys are CamelCase)"
            (c.problems if strict else warnings).append(msg)
            continue
        if key == "Notify":
            continue
        converted = _convert(c, key, value)
        if converted is not None:
            values[_KEY_TO_FIELD[key]] = converted
    data_dir = values.get("data_directory", Path("./data"))
    values["notify"] = _notify(c, raw.get("Notify", [{"Type": "duckdb"}]), data_dir)
    cfg = Config(**values) if not c.problems else None
    if cfg is not None:
        _check_combinations(c, cfg)
    if c.problems:
        raise ConfigError(c.problems)
    assert cfg is not None
    return cfg, warnings


def _check_combinations(c: _Checker, cfg: Config) -> None:
    if cfg.proxy_port_tls and not (
        (cfg.use_local_tls and cfg.tls_cert and cfg.tls_key) or cfg.letsencrypt_domains
    ):
        c.fail("ProxyPortTLS", "needs TLSCert and TLSKey with UseLocalTLS: true, "
               "or LetsEncryptDomains")
    if cfg.proxy_port_tls and cfg.use_local_tls and not cfg.letsencrypt_domains:
        for key, value in (("TLSCert", cfg.tls_cert), ("TLSKey", cfg.tls_key)):
            if value and not Path(value).is_file():
                c.fail(key, f"no such file: {value}")
    if cfg.proxy_port_tls and cfg.proxy_port_tls.port == cfg.proxy_port.port:
        c.fail("ProxyPortTLS", "must differ from ProxyPort")
    if cfg.proxy_url and not re.fullmatch(r"https?://[^/\s?#]+(/[^\s?#]*)?", cfg.proxy_url):
        c.fail("ProxyUrl", f"must be an http(s) URL like http://127.0.0.1:3000, "
               f"got {cfg.proxy_url!r}")
    if cfg.static_directory and not Path(cfg.static_directory).is_dir():
        c.fail("StaticDirectory", f"no such directory: {cfg.static_directory}")
    if cfg.geoip_database and not Path(cfg.geoip_database).is_file():
        c.fail("GeoIPDatabase", f"no such file: {cfg.geoip_database}")
    for sink in cfg.notify:
        if sink.type not in IMPLEMENTED_SINK_TYPES:
            c.fail(f"Notify ({sink.name})", f"Type {sink.type!r} is not available in this "
                   f"version yet (available: {', '.join(IMPLEMENTED_SINK_TYPES)})")
    for table in cfg.retention:
        from tracker.model.tables import TABLES_BY_NAME
        if table not in TABLES_BY_NAME and table not in ("logs", "counters", "updates"):
            c.fail("Retention", f"unknown table {table!r}")


def default_config_path() -> Path | None:
    path = Path("config.json")
    return path if path.exists() else None


def load_config(path: str | os.PathLike[str] | None, *, strict: bool = False
                ) -> tuple[Config, list[str]]:
    """Load CONFIG, or ./config.json when present, else the built-in defaults."""
    chosen = Path(path) if path is not None else default_config_path()
    if chosen is None:
        return parse_config({}, strict=strict)
    try:
        raw = orjson.loads(chosen.read_bytes())
    except FileNotFoundError:
        raise ConfigError([f"{chosen}: no such file"]) from None
    except orjson.JSONDecodeError as e:
        raise ConfigError([f"{chosen}: not valid JSON ({e})"]) from None
    return parse_config(raw, strict=strict)
