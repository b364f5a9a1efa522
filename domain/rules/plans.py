"""Plan versions: which version of each plan is in force when, whether two plans would pay for the
same thing, and the questions the ledger asks of the rules in force (each answered by the rule).
"""

from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class PlanVersion:
    """One version of a plan. An ordinary version is in force from `effective_from` on; a
    correction only over [effective_from, effective_to), and also for facts processed before it
    was recorded (the commission policy adjusts those)."""

    code: str
    version: int
    effective_from: datetime
    rules: tuple[Any, ...]
    effective_to: datetime | None = None
    correction: bool = False

    def covers(self, at: datetime) -> bool:
        return self.effective_from <= at and (self.effective_to is None or at < self.effective_to)


def versions_in_force(plans: list[list[PlanVersion]], at: datetime) -> list[PlanVersion]:
    """For each plan, the most recently defined version that covers `at`: a later version
    supersedes an earlier one wherever both would apply."""
    chosen = []
    for versions in plans:
        eligible = [v for v in versions if v.covers(at)]
        if eligible:
            chosen.append(max(eligible, key=lambda v: v.version))
    return chosen


def _by_plan(versions: list[PlanVersion]) -> dict[str, list[PlanVersion]]:
    by_code: dict[str, list[PlanVersion]] = {}
    for v in versions:
        by_code.setdefault(v.code, []).append(v)
    return by_code


def versions_in_force_flat(plans: list[PlanVersion], at: datetime) -> list[PlanVersion]:
    return versions_in_force(list(_by_plan(plans).values()), at)


class PlansInForce:
    """versions_in_force_flat(plans, at) for many facts, each stretch computed once: what is in
    force only changes where a version starts or ends, so every `at` between two such edges
    gets the same versions as the edge before it (a replay asks for every fact of the log)."""

    def __init__(self, plans: list[PlanVersion]) -> None:
        self.plans = plans
        self._edges = sorted(
            {v.effective_from for v in plans} | {v.effective_to for v in plans if v.effective_to}
        )
        self._answers: dict[tuple[Any, int], Any] = {}

    def at(self, at: datetime) -> list[PlanVersion]:
        return self.answer(versions_in_force_flat, at)  # type: ignore[no-any-return]

    def answer(self, question: Callable[[list[PlanVersion], datetime], Any], at: datetime) -> Any:
        """question(plans, at), for a question that depends on `at` only through the versions
        in force (versions_in_force_flat, rerating_rules, active_metrics): once per stretch.
        Callers must not change what it returns."""
        stretch = bisect_right(self._edges, at) - 1
        if stretch < 0:  # before every version's start: none covers it
            return question(self.plans, at)
        key = (question, stretch)
        found = self._answers.get(key)
        if found is None:
            found = self._answers[key] = question(self.plans, self._edges[stretch])
        return found


# ---- questions asked of each rule in force -----------------------------------------------------


def has_one_time_rule(plans: list[PlanVersion], package_code: str, at: datetime) -> bool:
    """Whether a rule in force for the package needs the card's first purchase paid from the
    wallet (a one-time commission depends on the recharge the ledger then sees)."""
    return any(
        rule.needs_wallet_first_purchase and rule.applies_to(package_code)
        for plan in versions_in_force_flat(plans, at)
        for rule in plan.rules
    )


def uses_levels(plans: list[PlanVersion]) -> bool:
    """Whether any rule needs agents' levels (grades): level scopes, 级差, 平级."""
    return any(rule.uses_levels for plan in plans for rule in plan.rules)


def active_metrics(plans: list[PlanVersion], at: datetime) -> list[str]:
    """The monthly counts of active cards that the value tiers of the rules in force at `at`
    read (domain/rules/value_tiers.py), each once."""
    return sorted(
        {
            metric
            for plan in versions_in_force_flat(plans, at)
            for rule in plan.rules
            if (metric := rule.active_metric) is not None
        }
    )


def rerates_months(version: PlanVersion) -> bool:
    return any(rule.rerates_month for rule in version.rules)


def rerating_rules(plans: list[PlanVersion], at: datetime) -> list[tuple[PlanVersion, Any]]:
    """The rules in force at `at` that re-price the month's sales when its volume changes tier."""
    return [
        (plan, rule)
        for plan in versions_in_force_flat(plans, at)
        for rule in plan.rules
        if rule.rerates_month
    ]


# ---- overlaps between plans --------------------------------------------------------------------


def _scopes_meet(a: Any, b: Any) -> bool:
    def meet(x: list[str], y: list[str]) -> bool:
        return not x or not y or bool(set(x) & set(y))  # empty = every package / level

    return meet(a.packages, b.packages) and meet(a.agent_levels, b.agent_levels)


def _winners(versions: list[PlanVersion]) -> list[tuple[datetime, datetime | None, PlanVersion]]:
    """The plan's timeline: each stretch [start, end) and the version in force over it."""
    edges = sorted(
        {v.effective_from for v in versions} | {v.effective_to for v in versions if v.effective_to}
    )
    timeline = []
    for i, start in enumerate(edges):
        end = edges[i + 1] if i + 1 < len(edges) else None
        if in_force := versions_in_force([versions], start):
            timeline.append((start, end, in_force[0]))
    return timeline


def overlapping_rules(candidate: PlanVersion, others: list[PlanVersion]) -> str | None:
    """Why the candidate may not be defined, or None: one of its rules has the overlap key of a
    rule of another plan in force at the same time (the same kind, and base or metric), for an
    overlapping scope (packages, agent levels)."""
    for versions in _by_plan(others).values():
        for start, end, version in _winners(versions):
            if not _periods_meet(candidate, start, end):
                continue
            for rule in candidate.rules:
                for other in version.rules:
                    if rule.overlap_key == other.overlap_key and _scopes_meet(rule, other):
                        return (
                            f"rule '{rule.code}' overlaps rule '{other.code}' of plan "
                            f"{version.code} version {version.version} (in force from "
                            f"{start.isoformat()}): both pay {rule.kind} for the same packages "
                            "and agent levels at the same time"
                        )
    return None


def _periods_meet(candidate: PlanVersion, start: datetime, end: datetime | None) -> bool:
    starts_before_end = end is None or candidate.effective_from < end
    ends_after_start = candidate.effective_to is None or start < candidate.effective_to
    return starts_before_end and ends_after_start
