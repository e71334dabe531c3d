"""The HashSecret: from the config, or generated once into DataDirectory."""

from __future__ import annotations

from tracker.config import Config
from tracker.events import load_or_create_secret

SECRET_FILE = "hash_secret"


def hash_secret(config: Config) -> bytes:
    if config.hash_secret:
        return config.hash_secret.encode()
    return load_or_create_secret(config.data_directory / SECRET_FILE)
