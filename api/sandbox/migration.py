"""What a rule would need to become a post-login Action: Auth0's migration mapping, applied to
the rule's source.

Each finding names a construct of the Rules runtime the script uses, the line it is on, and its
Actions equivalent (after Auth0's "Migrate from Rules to Actions" guide); a construct with no
equivalent is a blocker that needs a redesign, not a rewrite.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# (pattern, what the rule does, what the Action does instead, whether it blocks a rewrite)
MAPPING: tuple[tuple[str, str, str, bool], ...] = (
    (
        r"auth0\.users\.updateUserMetadata",
        "auth0.users.updateUserMetadata(id, metadata)",
        "api.user.setUserMetadata(key, value) per key (written once, at the end of the flow)",
        False,
    ),
    (
        r"auth0\.users\.updateAppMetadata",
        "auth0.users.updateAppMetadata(id, metadata)",
        "api.user.setAppMetadata(key, value) per key (written once, at the end of the flow)",
        False,
    ),
    (
        r"context\.idToken\s*\[",
        "context.idToken[claim] = value",
        "api.idToken.setCustomClaim(claim, value)",
        False,
    ),
    (
        r"context\.accessToken\.scope",
        "context.accessToken.scope",
        "api.accessToken.addScope(scope) / removeScope(scope)",
        False,
    ),
    (
        r"context\.accessToken\s*\[",
        "context.accessToken[claim] = value",
        "api.accessToken.setCustomClaim(claim, value)",
        False,
    ),
    (
        r"new\s+UnauthorizedError",
        "callback(new UnauthorizedError(message))",
        "api.access.deny(message)",
        False,
    ),
    (
        r"callback\(\s*new\s+Error",
        "callback(new Error(message))",
        "api.access.deny(message), or throw",
        False,
    ),
    (
        r"\bconfiguration\.",
        "configuration.KEY",
        "event.secrets.KEY (the configuration as secrets of the Action)",
        False,
    ),
    (
        r"user\.app_metadata\s*=\s*user\.app_metadata\s*\|\|",
        "user.app_metadata = user.app_metadata || {}",
        "nothing: event.user.app_metadata is never undefined",
        False,
    ),
    (r"require\(", "require('module')", "the module as a dependency of the Action", False),
    (
        r"\bglobal\.",
        "global (state kept between logins)",
        "no equivalent: an Action keeps nothing between runs (use api.cache or a store)",
        True,
    ),
    (
        r"auth0\.accessToken|ManagementClient",
        "auth0.accessToken / a ManagementClient",
        "a Management API client of its own, with M2M credentials in the Action's secrets",
        True,
    ),
    (
        r"context\.redirect",
        "context.redirect",
        "api.redirect.sendUserTo(url) (not run here: no browser flows yet)",
        True,
    ),
    (
        r"context\.multifactor",
        "context.multifactor",
        "api.multifactor.enable(provider) (not run here)",
        True,
    ),
)
# Properties of `context` that moved to `event` under another name.
RENAMED = {
    "context.clientID": "event.client.client_id",
    "context.clientName": "event.client.name",
    "context.clientMetadata": "event.client.metadata",
    "context.connectionStrategy": "event.connection.strategy",
    "context.connectionID": "event.connection.id",
    "context.protocol": "event.transaction.protocol",
    "context.stats.loginsCount": "event.stats.logins_count",
    "context.request.userAgent": "event.request.user_agent",
    "context.request.geoip": "event.request.geoip",
    "context.request.ip": "event.request.ip",
}
COMPILED = tuple(
    [(re.compile(p), does, instead, blocks) for p, does, instead, blocks in MAPPING]
    + [(re.compile(re.escape(old)), old, new, False) for old, new in RENAMED.items()]
    + [
        (
            re.compile(r"context\.connection\b(?![A-Za-z])"),
            "context.connection",
            "event.connection.name",
            False,
        )
    ]
)


@dataclass(frozen=True)
class Finding:
    line: int
    rule_does: str
    action_does: str
    blocks: bool


def findings(script: str) -> list[Finding]:
    """What the script uses that an Action does differently, first use of each, by line."""
    found: dict[str, Finding] = {}
    for number, line in enumerate(script.splitlines(), start=1):
        for pattern, does, instead, blocks in COMPILED:
            if does not in found and pattern.search(line):
                found[does] = Finding(number, does, instead, blocks)
    return sorted(found.values(), key=lambda finding: finding.line)
