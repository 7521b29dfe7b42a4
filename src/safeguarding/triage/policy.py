"""Priority policies as data: rules, weights and level thresholds in a versioned TOML file.

The policy is read and checked here, once, with errors that name the file, the rule and what is
wrong; scoring (``priority.py``) then trusts it. Two checks carry meaning beyond syntax:

- every fact a rule names must exist (``facts.FACTS``), and every evidence id must be in the
  evidence base, so a rule cannot silently test nothing or cite nothing;
- a rule either raises (weight >= 0, optional floor ``at_least``) or lowers (weight <= 0, optional
  cap ``at_most``), never both. Conditions are "fact at least n", which only become true as facts
  grow, so adding an aggravating signal to a report can never lower its score or level.
"""

from __future__ import annotations

import hashlib
import math
import re
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, TypeGuard

from safeguarding.errors import ValidationError
from safeguarding.evidence import shipped_evidence
from safeguarding.triage.facts import FACTS
from safeguarding.triage.formats.fields import UNSTORABLE, unstorable

LEVELS: tuple[str, ...] = ("P1", "P2", "P3", "informational")
LEVEL_CODE = {name: code for code, name in enumerate(LEVELS, start=1)}
ROUTES: tuple[str, ...] = ("offender", "youth_care")
MAX_RULES = 63  # rules fired are kept as bits of one 64-bit integer per report
# Runs and decisions store the policy's label (``name@version#`` and 12 digest digits) in a column
# of this many characters (``triage_run.policy``, ``triage_priority_decision.policy``).
LABEL_MAX = 160
_NAME_AND_VERSION_MAX = LABEL_MAX - len("@#") - 12
_RULE_HEADER = re.compile(r"^\s*\[\[\s*rule\s*\]\]\s*(#.*)?$")
_POLICY_KEYS = {"policy", "levels", "rule"}
_HEADER_KEYS = {"name", "version", "description"}
_RULE_KEYS = {
    "id",
    "description",
    "when",
    "weight",
    "at_least",
    "at_most",
    "route",
    "source",
    "evidence",
}


@dataclass(frozen=True)
class Rule:
    id: str
    description: str
    when: tuple[tuple[str, int], ...]
    weight: float
    source: str
    at_least: str | None = None
    at_most: str | None = None
    route: str | None = None
    evidence: str | None = None

    @property
    def aggravating(self) -> bool:
        return self.weight > 0 or self.at_least is not None


@dataclass(frozen=True)
class Policy:
    name: str
    version: str
    description: str
    thresholds: tuple[tuple[str, float], ...]
    rules: tuple[Rule, ...]
    digest: str
    path: str

    @property
    def label(self) -> str:
        """How decisions cite the policy: name, version and the first digits of its digest."""
        return f"{self.name}@{self.version}#{self.digest[:12]}"

    def rule(self, rule_id: str) -> Rule:
        for rule in self.rules:
            if rule.id == rule_id:
                return rule
        raise KeyError(f"policy {self.label} has no rule {rule_id!r}")


DEFAULT_POLICY = "default.toml"


def default_policy_text() -> bytes:
    return (
        resources.files("safeguarding.triage")
        .joinpath("policies")
        .joinpath(DEFAULT_POLICY)
        .read_bytes()
    )


def load_policy(path: Path | None = None) -> Policy:
    """The policy in ``path``, or the default shipped with the package."""
    if path is None:
        return parse_policy(default_policy_text(), f"(shipped) {DEFAULT_POLICY}")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ValidationError(
            f"{path}: cannot read policy file ({exc.strerror or exc})", location=str(path)
        ) from exc
    return parse_policy(data, str(path))


def _fail(where: str, rule: str) -> ValidationError:
    return ValidationError(f"{where}: {rule}", location=where, rule=rule)


def _level(value: Any, where: str) -> str:
    if not isinstance(value, str) or value not in LEVEL_CODE:
        raise _fail(where, f"level must be one of {', '.join(LEVELS)}, not {value!r}")
    return str(value)


def _text(table: dict[str, Any], key: str, where: str) -> str:
    value = table.get(key)
    if not isinstance(value, str) or not value.strip():
        raise _fail(where, f"{key} must be a non-empty string")
    return _storable(value, key, where)


def _storable(value: str, key: str, where: str) -> str:
    """``value`` if every store can hold it: runs and decisions store the policy's label, and
    each decision's reasons the ids and descriptions of the rules that fired. TOML writes a NUL
    as ``\\u0000``, which SQLite kept and PostgreSQL refused half-way through a run: refused
    here instead, naming the file, the table or rule, and the key."""
    if rule := unstorable(value):
        raise _fail(where, f"{key} {UNSTORABLE[rule]}")
    return value


def _number(value: Any) -> TypeGuard[float]:
    """A weight or threshold: a finite number (TOML writes ``nan`` and ``inf`` too; a NaN score
    cannot be stored, and compares false with every threshold)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _rule_lines(text: str) -> list[int]:
    """The line of each ``[[rule]]`` header, so that a refusal names where its rule is written
    (TOML readers give lines only for syntax errors)."""
    return [n for n, line in enumerate(text.splitlines(), start=1) if _RULE_HEADER.match(line)]


def _rule(table: Any, index: int, source: str, known_ids: set[str], line: int | None) -> Rule:
    source = f"{source}:{line}" if line else source
    where = f"{source}: rule {index + 1}"
    if not isinstance(table, dict):
        raise _fail(where, "must be a table")
    unknown = sorted(set(table) - _RULE_KEYS)
    if unknown:
        raise _fail(where, f"unknown key(s) {', '.join(unknown)}")
    rule_id = _text(table, "id", where)
    where = f"{source}: rule {rule_id!r}"
    if rule_id in known_ids:
        raise _fail(where, "rule ids must be unique")
    when = table.get("when")
    if not isinstance(when, dict) or not when:
        raise _fail(where, "when must be a table of fact = minimum")
    conditions: list[tuple[str, int]] = []
    for fact, minimum in when.items():
        if fact not in FACTS:
            raise _fail(where, f"unknown fact {fact!r}; known: {', '.join(sorted(FACTS))}")
        if not isinstance(minimum, int) or isinstance(minimum, bool) or minimum < 1:
            raise _fail(where, f"minimum for {fact} must be a whole number >= 1")
        conditions.append((fact, minimum))
    weight = table.get("weight")
    if not _number(weight):
        raise _fail(where, "weight must be a finite number")
    at_least = _level(table["at_least"], where) if "at_least" in table else None
    at_most = _level(table["at_most"], where) if "at_most" in table else None
    if (weight > 0 or at_least) and (weight < 0 or at_most):
        raise _fail(where, "a rule either raises (weight >= 0, at_least) or lowers, not both")
    route = table.get("route")
    if route is not None and route not in ROUTES:
        raise _fail(where, f"route must be one of {', '.join(ROUTES)}")
    evidence_id = table.get("evidence")
    if evidence_id is not None and not isinstance(evidence_id, str):
        raise _fail(where, "evidence must be one evidence id")
    if evidence_id is not None and evidence_id not in shipped_evidence():
        raise _fail(where, f"evidence {evidence_id!r} is not in the evidence base")
    return Rule(
        id=rule_id,
        description=_text(table, "description", where),
        when=tuple(conditions),
        weight=float(weight),
        source=_text(table, "source", where),
        at_least=at_least,
        at_most=at_most,
        route=route,
        evidence=evidence_id,
    )


def parse_policy(data: bytes, source: str) -> Policy:
    """Check and read a policy; ``source`` names it in error messages."""
    try:
        text = data.decode("utf-8")
        document = tomllib.loads(text)
    except UnicodeDecodeError as exc:
        raise _fail(source, "policy file must be UTF-8") from exc
    except tomllib.TOMLDecodeError as exc:
        raise _fail(source, f"not valid TOML ({exc})") from exc
    unknown = sorted(set(document) - _POLICY_KEYS)
    if unknown:
        raise _fail(source, f"unknown section(s) {', '.join(unknown)}")
    header = document.get("policy")
    if not isinstance(header, dict):
        raise _fail(source, "[policy] with name and version is required")
    extra = sorted(set(header) - _HEADER_KEYS)
    if extra:
        raise _fail(f"{source}: [policy]", f"unknown key(s) {', '.join(extra)}")
    levels = document.get("levels")
    if not isinstance(levels, dict) or set(levels) != set(LEVELS[:3]):
        raise _fail(f"{source}: [levels]", "must give score thresholds P1, P2 and P3")
    thresholds = []
    for name in LEVELS[:3]:
        value = levels[name]
        if not _number(value):
            raise _fail(f"{source}: [levels]", f"{name} must be a finite number")
        thresholds.append((name, float(value)))
    if not thresholds[0][1] > thresholds[1][1] > thresholds[2][1]:
        raise _fail(f"{source}: [levels]", "thresholds must fall: P1 > P2 > P3")
    tables = document.get("rule")
    if not isinstance(tables, list) or not tables:
        raise _fail(source, "at least one [[rule]] is required")
    if len(tables) > MAX_RULES:
        raise _fail(source, f"at most {MAX_RULES} rules")
    lines = _rule_lines(text)
    if len(lines) != len(tables):  # rules written inline: no header to point at
        lines = []
    rules: list[Rule] = []
    for index, table in enumerate(tables):
        line = lines[index] if lines else None
        rules.append(_rule(table, index, source, {r.id for r in rules}, line))
    header_at = f"{source}: [policy]"
    name = _text(header, "name", header_at)
    version = _text(header, "version", header_at)
    if len(name) + len(version) > _NAME_AND_VERSION_MAX:
        # A longer label was cut by SQLite and refused by PostgreSQL mid-run: refused here.
        raise _fail(
            header_at,
            f"name and version must be at most {_NAME_AND_VERSION_MAX} characters together "
            f"(runs and decisions cite the policy as name@version#digest, in {LABEL_MAX})",
        )
    return Policy(
        name=name,
        version=version,
        description=_storable(str(header.get("description", "")), "description", header_at),
        thresholds=tuple(thresholds),
        rules=tuple(rules),
        digest=hashlib.sha256(data).hexdigest(),
        path=source,
    )
