"""The workloads: which calls each operation makes, on which fixtures, so that both systems
answer exactly the same sequence of requests.

Operations run on models of their own (see `Fixtures`), so that one operation's writes do
not change what another one reads.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .apis import RegistryApi, describe_error
from .stats import MAX_MESSAGES, CellPart

OPS = (
    "create_model",
    "create_version",
    "set_alias",
    "get_by_alias",
    "resolve",
    "get_version",
    "transition",
    "search_versions",
    "search_models",
)
#: Operations that work on a model of SMALL_VERSIONS versions.
SMALL_MODEL_OPS = ("set_alias", "get_by_alias", "resolve", "get_version", "transition")
SMALL_VERSIONS = 20
ALIAS = "champion"


@dataclass(frozen=True)
class Fixtures:
    """Names of everything a run creates. The run prefix keeps runs apart (and lets a
    database be reused); separate models per operation keep operations from disturbing
    each other's figures."""

    prefix: str
    search_size: int

    def created_model(self, concurrency: int, worker: int, n: int) -> str:
        return f"{self.prefix}-new-c{concurrency}-w{worker}-{n}"

    def version_model(self, concurrency: int) -> str:
        return f"{self.prefix}-cv-c{concurrency}"

    def small_model(self, op: str) -> str:
        return f"{self.prefix}-{op.replace('_', '-')}"

    @property
    def big_model(self) -> str:
        return f"{self.prefix}-big"

    def like_model(self, index: int) -> str:
        return f"{self.prefix}-like-{index:04d}"

    @property
    def versions_filter(self) -> str:
        return f"name = '{self.big_model}'"

    @property
    def models_filter(self) -> str:
        # like-0100 .. like-0199: 100 of the 1,000 seeded names.
        return f"name LIKE '{self.prefix}-like-01%'"

    def source(self, worker: int, n: int) -> str:
        return f"s3://bench-bucket/{self.prefix}/w{worker}/{n}"


def op_call(
    api: RegistryApi,
    op: str,
    fx: Fixtures,
    *,
    concurrency: int,
    total_workers: int,
    worker: int,
) -> Callable[[int], object]:
    """The n-th call of `op` by `worker`, as a function of n."""
    total = total_workers

    def rotating(n: int) -> int:
        # Workers interleave, so successive calls across all workers take successive versions.
        return (n * total + worker) % SMALL_VERSIONS + 1

    match op:
        case "create_model":
            return lambda n: api.create_model(fx.created_model(concurrency, worker, n))
        case "create_version":
            model = fx.version_model(concurrency)
            return lambda n: api.create_version(model, fx.source(worker, n))
        case "set_alias":
            model = fx.small_model("set_alias")
            return lambda n: api.set_alias(model, ALIAS, rotating(n))
        case "get_by_alias":
            model = fx.small_model("get_by_alias")
            return lambda n: api.get_by_alias(model, ALIAS)
        case "resolve":
            model = fx.small_model("resolve")
            return lambda n: api.resolve(model, ALIAS)
        case "get_version":
            model = fx.small_model("get_version")
            return lambda n: api.get_version(model, rotating(n))
        case "transition":
            model = fx.small_model("transition")
            return lambda n: api.transition(model, rotating(n))
        case "search_versions":
            return lambda n: api.search_versions(fx.versions_filter)
        case "search_models":
            return lambda n: api.search_models(fx.models_filter)
    raise ValueError(f"unknown operation {op!r}")


def create_fixtures(api: RegistryApi, tasks: Sequence[tuple[str, str]], fx: Fixtures) -> CellPart:
    """Create fixtures, retrying a failed call twice. A model that "already exists" on a
    retry was created by the attempt whose answer was lost, so it counts as done."""
    part = CellPart()
    for index, (kind, name) in enumerate(tasks):
        for attempt in range(3):
            try:
                if kind == "model":
                    api.create_model(name)
                else:
                    api.create_version(name, fx.source(-1, index))
            except Exception as exc:
                message = describe_error(exc)
                if kind == "model" and attempt > 0 and "exist" in message.lower():
                    part.acknowledged += 1
                    break
                part.errors += 1
                if message in part.messages or len(part.messages) < MAX_MESSAGES:
                    part.messages[message] += 1
                continue
            part.acknowledged += 1
            break
    return part
