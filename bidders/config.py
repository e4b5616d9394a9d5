"""The simulator's configuration: one validated object, read from TOML or YAML.

Every key is checked before any work starts; a bad key or value raises ``ConfigError``
whose message names it with its dotted path (``population.cost.sigma: ...``). Sections:

* ``population`` annotators (``bidders.population.PopulationConfig``);
* ``strategies`` who bids how (``bidders.strategies.StrategyConfig``);
* ``market``     rules, rounds, demand, values and budgets (dollars);
* ``quality``    how the market knows quality: ``oracle``, ``none`` or ``gold`` (the
  market's quality control; ``bidders.quality.QualityConfig``);
* ``run``        seeds, workers, how often and how finely to measure regret, output dir.

``--sweep key=v1,v2`` runs the cartesian product of the swept values; each point is
validated up front like the base config.
"""

from __future__ import annotations

import copy
import itertools
import tomllib
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from bidders.population import PopulationConfig
from bidders.quality import QualityConfig
from bidders.strategies import StrategyConfig
from market.mechanisms import RULES


class ConfigError(ValueError):
    """A configuration problem; the message names the offending key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Dollars = Annotated[float, Field(gt=0)]


class MarketConfig(_Strict):
    """The requester's side. Item values follow the market: ``v_j = max_price · s_j / max s``
    with acquisition scores ``s ~ lognormal(0, score_sigma)``."""

    rules: list[str] = Field(default_factory=lambda: list(RULES), min_length=1)
    rounds: Annotated[int, Field(ge=1)] = 1000
    round_size: Annotated[int, Field(ge=1)] = 50
    max_price: Dollars = 1.0
    round_budget: Dollars = 10.0
    campaign_budget: Dollars | None = None
    posted_price: Dollars = 0.30
    score_sigma: Annotated[float, Field(ge=0)] = 0.5

    @field_validator("rules")
    @classmethod
    def _known_rules(cls, rules: list[str]) -> list[str]:
        unknown = [r for r in rules if r not in RULES]
        if unknown:
            raise ValueError(f"unknown rule {unknown}; known: {list(RULES)}")
        if len(set(rules)) != len(rules):
            raise ValueError("a rule is listed twice")
        return rules


class RunConfig(_Strict):
    """How to run: seeds (each a fresh population and value stream), parallelism, regret."""

    seeds: list[int] = Field(default_factory=lambda: [0, 1, 2, 3, 4], min_length=1)
    workers: Annotated[int, Field(ge=1)] | None = None
    regret_every: Annotated[int, Field(ge=1)] = 10
    regret_bidders: Annotated[int, Field(ge=0)] = 3
    regret_grid: list[Annotated[float, Field(gt=0)]] = Field(
        default_factory=lambda: [0.5, 0.8, 0.9, 0.95, 1.05, 1.1, 1.25, 1.5, 2.0, 3.0],
        min_length=1,
    )
    out: str | None = None


class SimulationConfig(_Strict):
    population: PopulationConfig = Field(default_factory=PopulationConfig)
    strategies: StrategyConfig = Field(default_factory=StrategyConfig)
    market: MarketConfig = Field(default_factory=MarketConfig)
    quality: QualityConfig = Field(default_factory=QualityConfig)
    run: RunConfig = Field(default_factory=RunConfig)


def parse_config(data: dict[str, Any]) -> SimulationConfig:
    """Validate a plain dict; raise ``ConfigError`` naming every bad key."""
    try:
        return SimulationConfig.model_validate(data)
    except ValidationError as err:
        raise ConfigError(_describe(err)) from None


def _describe(err: ValidationError) -> str:
    lines = []
    for e in err.errors():
        key = ".".join(str(part) for part in e["loc"]) or "config"
        msg = e["msg"].removeprefix("Value error, ")
        lines.append(f"{key}: {msg}")
    return "invalid configuration:\n  " + "\n  ".join(lines)


def read_config_file(path: str | Path) -> dict[str, Any]:
    """Read a TOML (``.toml``) or YAML (``.yaml``/``.yml``) file into a plain dict."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config: no such file {path}")
    text = path.read_text()
    try:
        if path.suffix == ".toml":
            data = tomllib.loads(text)
        elif path.suffix in (".yaml", ".yml"):
            data = yaml.safe_load(text) or {}
        else:
            raise ConfigError(f"config: {path.name} is neither .toml nor .yaml/.yml")
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as err:
        raise ConfigError(f"config: cannot parse {path.name}: {err}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config: {path.name} must hold a table of sections")
    return data


def parse_sweep(specs: list[str]) -> list[tuple[str, list[Any]]]:
    """``["market.round_budget=5,10"]`` → ``[("market.round_budget", [5, 10])]``.

    Each value is read as a YAML scalar, so numbers, booleans and words all work.
    """
    sweeps = []
    for spec in specs:
        key, sep, values = spec.partition("=")
        key = key.strip()
        if not sep or not key or not values.strip():
            raise ConfigError(f"--sweep {spec!r}: expected key=v1,v2,...")
        sweeps.append((key, [yaml.safe_load(v.strip()) for v in values.split(",")]))
    return sweeps


def _set_dotted(data: dict[str, Any], key: str, value: Any) -> None:
    *parents, leaf = key.split(".")
    node = data
    for part in parents:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"{key}: {part} is not a section")
        node = child
    node[leaf] = value


def sweep_points(
    data: dict[str, Any], sweeps: list[tuple[str, list[Any]]]
) -> list[tuple[dict[str, Any], SimulationConfig]]:
    """Every combination of swept values as ``(swept values, validated config)``.

    All points are validated before the first one runs, so a bad value late in a sweep
    cannot waste the earlier points' work.
    """
    keys = [k for k, _ in sweeps]
    points = []
    for combo in itertools.product(*(values for _, values in sweeps)):
        point = copy.deepcopy(data)
        for key, value in zip(keys, combo):
            _set_dotted(point, key, value)
        points.append((dict(zip(keys, combo)), parse_config(point)))
    return points
