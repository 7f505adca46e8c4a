"""``registry lineage``: runs, data sets and parent links between versions."""

from __future__ import annotations

import argparse
from typing import Any

from registry_client._client import RegistryClient
from registry_client.cli._format import fmt_time, key_values, rows, versions_table
from registry_client.cli._parsing import Result, add_name_version, command, group, positive_int
from registry_client.types import ModelVersion, VersionLineage


def add(sub: Any) -> None:
    g = group(
        sub,
        "lineage",
        "where versions came from: runs, data sets, parent versions",
        "Follow lineage: the versions a training run produced, the versions trained on\n"
        "a data set, and a version's ancestors and descendants through parent links.",
        [
            "registry lineage by-dataset sha256:ab12",
            "registry lineage show fraud-detector 3",
        ],
    )
    p = command(
        g,
        "by-run",
        lineage_by_run,
        "versions produced by a run",
        "List the versions, across all models, produced by a training run; newest first.",
        ["registry lineage by-run run-42"],
    )
    p.add_argument("run_id", metavar="RUN_ID", help="training run id")

    p = command(
        g,
        "by-dataset",
        lineage_by_dataset,
        "versions trained on a data set",
        "List the versions, across all models, trained on the data set with this digest\n"
        "(as given with `registry versions create --dataset digest=...`); newest first.",
        ["registry lineage by-dataset sha256:ab12"],
    )
    p.add_argument("digest", metavar="DIGEST", help="the data set's digest, matched exactly")

    p = command(
        g,
        "show",
        lineage_show,
        "a version's ancestors and descendants",
        "Show where a version came from and what was derived from it, across models,\n"
        "through the parent links set with `registry versions create --parent`. The\n"
        "table draws one tree: the oldest ancestor first, down to the version (marked\n"
        "*), then every version derived from it. JSON has model_version, ancestors\n"
        "(parent first), descendants (nearest generation first; each one's\n"
        "lineage.parent_model_uri names its parent) and truncated.",
        [
            "registry lineage show fraud-detector 3",
            "registry --output json lineage show fraud-detector 3 --max-depth 1",
        ],
    )
    add_name_version(p)
    p.add_argument(
        "--max-depth",
        type=positive_int,
        default=0,
        metavar="N",
        help="links to follow each way, up to 100 (default: 100)",
    )


def lineage_by_run(c: RegistryClient, a: argparse.Namespace) -> Result:
    versions = c.find_model_versions_by_run(a.run_id)
    return Result(versions, versions_table(versions))


def lineage_by_dataset(c: RegistryClient, a: argparse.Namespace) -> Result:
    versions = c.find_model_versions_by_dataset(a.digest)
    return Result(versions, versions_table(versions))


def lineage_show(c: RegistryClient, a: argparse.Namespace) -> Result:
    found = c.get_model_version_lineage(a.name, a.version, max_depth=a.max_depth)
    return Result(found, lineage_text(found))


def _tree_entries(lin: VersionLineage) -> list[tuple[str, ModelVersion]]:
    """(tree label, version) from the oldest ancestor down to the version
    asked about (marked ``*``), then its descendants as a tree."""
    focus = lin.model_version
    chain = [*reversed(lin.ancestors), focus]
    entries: list[tuple[str, ModelVersion]] = []
    for depth, v in enumerate(chain):
        branch = "" if depth == 0 else "    " * (depth - 1) + "`-- "
        entries.append((branch + v.uri + (" *" if v is focus else ""), v))
    placed = {(v.name, v.version) for v in chain}

    def walk(parent: ModelVersion, prefix: str) -> None:
        kids = [
            k
            for k in lin.children_of(parent.name, parent.version)
            if (k.name, k.version) not in placed
        ]
        placed.update((k.name, k.version) for k in kids)
        for i, kid in enumerate(kids):
            last = i == len(kids) - 1
            entries.append((prefix + ("`-- " if last else "|-- ") + kid.uri, kid))
            walk(kid, prefix + ("    " if last else "|   "))

    walk(focus, "    " * (len(chain) - 1))
    # A descendant whose parent link the tree cannot follow (it should not
    # happen) is still listed rather than silently dropped.
    entries += [("? " + d.uri, d) for d in lin.descendants if (d.name, d.version) not in placed]
    return entries


def lineage_text(lin: VersionLineage) -> str:
    head = key_values(
        [
            ("version", lin.model_version.uri + "  (* in the tree)"),
            ("ancestors", len(lin.ancestors)),
            ("descendants", len(lin.descendants)),
        ]
    )
    tree = rows(
        ("LINEAGE", "STAGE", "STATUS", "ALIASES", "RUN_ID", "CREATED"),
        [
            (
                label,
                v.current_stage,
                v.status,
                ",".join(v.aliases),
                v.run_id,
                fmt_time(v.creation_timestamp),
            )
            for label, v in _tree_entries(lin)
        ],
        "",
        full_first=True,
    )
    text = head + "\n\n" + tree
    if lin.truncated:
        text += "\n(truncated: the depth limit (--max-depth) or the 1,000-descendant limit was hit)"
    return text
