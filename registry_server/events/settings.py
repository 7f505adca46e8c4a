"""Watch stream limits (read from the environment by registry_server/config.py;
no imports here, so the configuration stays light)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class WatchSettings:
    #: Open streams one principal may hold (REGISTRY_WATCH_STREAMS_PER_PRINCIPAL).
    per_principal: int = 64
    #: Open streams in one process (REGISTRY_WATCH_STREAMS_MAX); each holds a thread.
    max_streams: int = 1024
    #: Seconds between heartbeats on an idle stream (REGISTRY_WATCH_HEARTBEAT).
    heartbeat: float = 10.0
    #: Events a stream may have waiting before it is cut off (REGISTRY_WATCH_BUFFER).
    buffer: int = 1000
