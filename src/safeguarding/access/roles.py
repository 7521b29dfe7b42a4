"""Roles and the one permission table.

Every web route and page declares one permission; a role may use the route only if the table below
lists the role for that permission. Anything not listed is denied. The table is data: reading it
answers "who can see what" without reading code, and the web tests check it route by route.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    PROVIDER = "provider"
    ANALYST = "analyst"
    SUPERVISOR = "supervisor"
    RESEARCHER = "researcher"
    COUNSELLOR = "counsellor"
    ADMIN = "admin"


ROLE_DESCRIPTIONS: dict[Role, str] = {
    Role.PROVIDER: "a provider's system: submits reports, nothing else",
    Role.ANALYST: "triage analyst: queue, reports, subjects, outcomes",
    Role.SUPERVISOR: "triage supervisor: as analyst, plus policy, capacity and hash lists",
    Role.RESEARCHER: "researcher: aggregates under disclosure control only",
    Role.COUNSELLOR: "helpline counsellor: helpline contact entry only",
    Role.ADMIN: "administrator: accounts and tokens, and the audit log",
}

P, A, S, R, C, ADM = (
    Role.PROVIDER,
    Role.ANALYST,
    Role.SUPERVISOR,
    Role.RESEARCHER,
    Role.COUNSELLOR,
    Role.ADMIN,
)
EVERYONE = frozenset(Role)

# permission → the roles that hold it. Least privilege: a role holds only what its work needs.
PERMISSIONS: dict[str, frozenset[Role]] = {
    # Any signed-in account: its own home page, its own account, signing out, the API schema.
    "account.self": EVERYONE,
    # Providers
    "report.submit": frozenset({P}),
    # Triage (analysts and supervisors)
    "queue.read": frozenset({A, S}),
    "report.read": frozenset({A, S}),
    "subject.read": frozenset({A, S}),
    "outcome.record": frozenset({A, S}),
    # Supervisors only
    "policy.manage": frozenset({S}),
    "capacity.manage": frozenset({S}),
    "hashlist.read": frozenset({S}),
    "hashlist.manage": frozenset({S}),
    # Aggregates under disclosure control (platforms, scenarios, statistics, the monitor report)
    "aggregates.read": frozenset({S, R}),
    # Published figures with their sources
    "evidence.read": frozenset({A, S, R}),
    # Helpline
    "helpline.entry": frozenset({C}),
    # Administration and oversight
    "users.manage": frozenset({ADM}),
    "audit.read": frozenset({S, ADM}),
    # Platforms: importing a register or case file (supervisors only)
    "platforms.import": frozenset({S}),
    # Assessment: running scenarios on request (aggregates only; nothing is stored)
    "assess.run": frozenset({S, R}),
}


def allowed(role: Role | str, permission: str) -> bool:
    """Whether ``role`` holds ``permission``; unknown roles and permissions are denied."""
    holders = PERMISSIONS.get(permission)
    if holders is None:
        return False
    try:
        return Role(role) in holders
    except ValueError:
        return False


def parse_role(value: str) -> Role:
    """The role called ``value``, or a ValueError naming the known roles."""
    try:
        return Role(value)
    except ValueError:
        known = ", ".join(r.value for r in Role)
        raise ValueError(f"unknown role {value!r}; known roles: {known}") from None
