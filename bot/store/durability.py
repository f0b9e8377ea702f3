"""Whether a Redis server is fit to keep records for years: it must write them to disk (AOF or
RDB saves) and never evict keys under memory pressure (`maxmemory-policy noeviction`).
Read with CONFIG GET where allowed, else from INFO; a server that shows neither (some managed
services) cannot be judged and gets a warning, not a refusal."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from redis.exceptions import RedisError


@dataclass
class Verdict:
    """What is wrong (problems stop a start) and what could not be checked (warnings)."""

    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


async def judge(client: Any) -> Verdict:
    """Read the server's persistence and eviction settings and say what is wrong; on a
    cluster, of every primary (each keeps its own share of the records)."""
    if not hasattr(client, "get_primaries"):
        return await _judge(client.config_get, client.info)
    await client.initialize()
    verdict = Verdict()
    for node in client.get_primaries():
        one = await _judge(
            partial(client.config_get, target_nodes=node), partial(client.info, target_nodes=node)
        )
        verdict.problems += [f"{node.name}: {problem}" for problem in one.problems]
        verdict.warnings += [f"{node.name}: {warning}" for warning in one.warnings]
    return verdict


async def _judge(config_get: Callable[..., Any], info: Callable[..., Any]) -> Verdict:
    verdict = Verdict()
    try:
        config = await config_get("appendonly")
        config |= await config_get("save")
        config |= await config_get("maxmemory-policy")
        aof, saves = config.get("appendonly") == "yes", bool(str(config.get("save", "")).strip())
        policy = str(config.get("maxmemory-policy", ""))
    except RedisError:  # CONFIG refused (managed servers): INFO says less, but something
        try:
            persistence = await info("persistence")
            memory = await info("memory")
        except RedisError as exc:
            verdict.warnings.append(
                f"the server hides its settings ({exc}): "
                "check yourself that it keeps data on disk and never evicts"
            )
            return verdict
        aof = str(persistence.get("aof_enabled", "0")) == "1"
        saves = True  # INFO does not show save rules: only AOF can be judged
        policy = str(memory.get("maxmemory_policy", ""))
        verdict.warnings.append("CONFIG is not allowed: RDB save rules could not be checked")
    if not aof and not saves:
        verdict.problems.append(
            "persistence is off (appendonly no, no save rules): pledges would be lost on restart; "
            "set appendonly yes with appendfsync everysec (or always)"
        )
    if policy and policy != "noeviction":
        verdict.problems.append(
            f"maxmemory-policy is {policy}: under memory pressure Redis would delete pledges; "
            "set maxmemory-policy noeviction"
        )
    return verdict
