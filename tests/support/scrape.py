"""Reading the HTTP side port (``serve --http-listen``) in tests: /metrics parsed
into samples, /healthz's status."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Mapping

from prometheus_client.parser import text_string_to_metric_families

Samples = Mapping[tuple[str, frozenset[tuple[str, str]]], float]


def get(port: int, path: str, timeout: float = 10.0) -> tuple[int, str]:
    """(status, body) of GET http://127.0.0.1:port/path; HTTP errors included."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as reply:
            return reply.status, reply.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def scrape(port: int) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of /metrics, keyed by (sample name, its labels)."""
    status, text = get(port, "/metrics")
    assert status == 200, text
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    """One sample's value; 0 when the series does not exist (yet)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum of the samples called `name` whose labels include `labels`
    (over the other labels: methods, codes, processes)."""
    wanted = set(labels.items())
    return sum(
        value for (sample, have), value in samples.items() if sample == name and wanted <= have
    )


def label_values(samples: Samples, name: str, label: str) -> set[str]:
    """Every value `label` takes in the samples called `name`."""
    return {
        dict(labels)[label]
        for (sample, labels), _ in samples.items()
        if sample == name and label in dict(labels)
    }


def healthz(port: int) -> int:
    return get(port, "/healthz")[0]
