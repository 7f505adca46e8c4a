"""Is a Docker engine reachable?  Checked once per process, with a short timeout."""

from __future__ import annotations

import functools


@functools.cache
def docker_available(timeout: float = 2.0) -> bool:
    """Return True when a Docker engine answers a ping within ``timeout`` seconds.

    Without an engine (no socket, no ``DOCKER_HOST``) this fails in milliseconds.  The result
    is cached for the whole test session.
    """
    try:
        import docker
    except ImportError:
        return False
    try:
        client = docker.from_env(timeout=timeout)
    except Exception:
        return False
    try:
        return bool(client.ping())
    except Exception:
        return False
    finally:
        client.close()
