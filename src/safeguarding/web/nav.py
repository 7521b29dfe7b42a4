"""The navigation bar: each entry names the permission it needs, so a role sees only its pages.

An area that adds pages adds its entry here, with the same permission its router requires.
"""

from __future__ import annotations

from dataclasses import dataclass

from safeguarding.access.roles import allowed
from safeguarding.web.auth import Principal


@dataclass(frozen=True)
class NavItem:
    label: str
    href: str
    permission: str


NAV: tuple[NavItem, ...] = (
    NavItem("Home", "/", "account.self"),
    NavItem("My API tokens", "/account/tokens", "account.self"),
    NavItem("Evidence base", "/evidence", "evidence.read"),
    NavItem("Monitor report", "/monitor", "aggregates.read"),
    NavItem("Audit log", "/audit", "audit.read"),
    NavItem("Users", "/users", "users.manage"),
    NavItem("Queue", "/queue", "queue.read"),
    NavItem("Subjects", "/subjects", "subject.read"),
    NavItem("Content clusters", "/clusters", "report.read"),
    NavItem("Hash lists", "/hashlists", "hashlist.read"),
    NavItem("Triage run", "/triage/run", "policy.manage"),
    NavItem("Platforms", "/platforms", "aggregates.read"),
    NavItem("Assessment", "/assess", "aggregates.read"),
    NavItem("Helpline entry", "/helpline/entry", "helpline.entry"),
    NavItem("Helpline statistics", "/helpline/stats", "aggregates.read"),
)


def nav_for(principal: Principal | None) -> list[NavItem]:
    if principal is None:
        return []
    return [item for item in NAV if allowed(principal.role, item.permission)]
