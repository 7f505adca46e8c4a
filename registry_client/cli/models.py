"""``registry models``: registered models."""

from __future__ import annotations

import argparse
from typing import Any

from registry_client._client import RegistryClient
from registry_client.cli._format import fmt_map, fmt_time, key_values, versions_table
from registry_client.cli._parsing import Result, add_tag_option, command, done, group
from registry_client.cli.search import SEARCH_PAGES, add_search_options, search_models
from registry_client.types import RegisteredModel


def add(sub: Any) -> None:
    g = group(
        sub,
        "models",
        "registered models: list, create, inspect, rename, tag, delete",
        "Manage registered models, the named containers of numbered versions.",
        [
            "registry models list",
            "registry models create fraud-detector --tag team=risk",
            "registry models get fraud-detector",
        ],
    )
    # What people type first; the same as `search models` without a filter.
    p = command(
        g,
        "list",
        search_models,
        "list models",
        "List every registered model, by name unless --order-by: `registry search models`\n"
        "without a filter (use that command to filter).\n\n" + SEARCH_PAGES,
        [
            "registry models list",
            "registry models list --order-by 'last_updated_timestamp DESC' --max-results 10",
        ],
    )
    add_search_options(p, None, "name, creation_timestamp or last_updated_timestamp")

    p = command(
        g,
        "create",
        models_create,
        "create a model",
        "Create a registered model with no versions. Fails if the name is taken.",
        ['registry models create fraud-detector --description "Card fraud" --tag team=risk'],
    )
    p.add_argument("name", metavar="NAME", help="registered model name")
    p.add_argument("--description", default=None, help="free text, up to 64 KiB")
    add_tag_option(p)

    p = command(
        g,
        "get",
        models_get,
        "show a model",
        "Show a model with its tags, aliases and the latest version in each stage.",
        ["registry models get fraud-detector", "registry --output json models get fraud-detector"],
    )
    p.add_argument("name", metavar="NAME", help="registered model name")

    p = command(
        g,
        "update",
        models_update,
        "replace a model's description",
        "Replace a model's description; an empty string clears it.",
        ['registry models update fraud-detector --description "Card fraud, EU only"'],
    )
    p.add_argument("name", metavar="NAME", help="registered model name")
    p.add_argument("--description", required=True, help="the new description")

    p = command(
        g,
        "rename",
        models_rename,
        "rename a model",
        "Rename a model. Versions, aliases, tags and history follow it; models:/ URIs\n"
        "using the old name stop resolving.",
        ["registry models rename fraud-detector fraud-detector-eu"],
    )
    p.add_argument("name", metavar="NAME", help="registered model name")
    p.add_argument("new_name", metavar="NEW_NAME", help="the new name")

    p = command(
        g,
        "delete",
        models_delete,
        "delete a model and all its versions",
        "Delete a model with all its versions, aliases and tags. Its history stays\n"
        "readable with `registry history NAME`.",
        ["registry models delete fraud-detector"],
    )
    p.add_argument("name", metavar="NAME", help="registered model name")

    p = command(
        g,
        "set-tag",
        models_set_tag,
        "set a tag on a model",
        "Add a tag to a model, or overwrite its value.",
        ["registry models set-tag fraud-detector owner alice"],
    )
    p.add_argument("name", metavar="NAME", help="registered model name")
    p.add_argument("key", metavar="KEY", help="tag key")
    p.add_argument("value", metavar="VALUE", help="tag value")

    p = command(
        g,
        "delete-tag",
        models_delete_tag,
        "delete a tag from a model",
        "Delete a tag from a model. Fails if the tag does not exist.",
        ["registry models delete-tag fraud-detector owner"],
    )
    p.add_argument("name", metavar="NAME", help="registered model name")
    p.add_argument("key", metavar="KEY", help="tag key")

    p = command(
        g,
        "latest",
        models_latest,
        "latest version per stage",
        "Show the highest-numbered version in each stage (all stages unless --stage).",
        [
            "registry models latest fraud-detector",
            "registry models latest fraud-detector --stage Production",
        ],
    )
    p.add_argument("name", metavar="NAME", help="registered model name")
    p.add_argument(
        "--stage",
        dest="stages",
        action="append",
        metavar="STAGE",
        help="None, Staging, Production or Archived (any case); repeat for several",
    )


def models_create(c: RegistryClient, a: argparse.Namespace) -> Result:
    rm = c.create_registered_model(a.name, tags=a.tags, description=a.description)
    return Result(rm, model_text(rm))


def models_get(c: RegistryClient, a: argparse.Namespace) -> Result:
    rm = c.get_registered_model(a.name)
    return Result(rm, model_text(rm))


def models_update(c: RegistryClient, a: argparse.Namespace) -> Result:
    rm = c.update_registered_model(a.name, a.description)
    return Result(rm, model_text(rm))


def models_rename(c: RegistryClient, a: argparse.Namespace) -> Result:
    rm = c.rename_registered_model(a.name, a.new_name)
    return Result(rm, model_text(rm))


def models_delete(c: RegistryClient, a: argparse.Namespace) -> Result:
    c.delete_registered_model(a.name)
    return done(f"Deleted model {a.name!r}.", name=a.name, deleted=True)


def models_set_tag(c: RegistryClient, a: argparse.Namespace) -> Result:
    c.set_registered_model_tag(a.name, a.key, a.value)
    return done(f"Set tag {a.key!r} on model {a.name!r}.", name=a.name, key=a.key, value=a.value)


def models_delete_tag(c: RegistryClient, a: argparse.Namespace) -> Result:
    c.delete_registered_model_tag(a.name, a.key)
    return done(
        f"Deleted tag {a.key!r} from model {a.name!r}.", name=a.name, key=a.key, deleted=True
    )


def models_latest(c: RegistryClient, a: argparse.Namespace) -> Result:
    versions = c.get_latest_versions(a.name, stages=a.stages)
    return Result(versions, versions_table(versions))


def model_text(rm: RegisteredModel) -> str:
    text = key_values(
        [
            ("name", rm.name),
            ("description", rm.description),
            ("tags", fmt_map(rm.tags)),
            ("aliases", fmt_map(rm.aliases)),
            ("last_version", rm.last_version),
            ("created_by", rm.created_by),
            ("created", fmt_time(rm.creation_timestamp)),
            ("updated", fmt_time(rm.last_updated_timestamp)),
        ]
    )
    if rm.latest_versions:
        text += "\n\nLatest versions:\n" + versions_table(rm.latest_versions)
    return text
