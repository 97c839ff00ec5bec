"""`metaledger rules check`: for each stored rule, what an equivalent post-login Action needs."""

from __future__ import annotations

import argparse
import sys
from typing import Any

import orjson

from metaledger.api import stores
from metaledger.api.bootstrap import open_profiles
from metaledger.api.code_store import RULE
from metaledger.api.sandbox.migration import findings
from metaledger.api.settings import Settings
from metaledger.api.stores import StoreNotFound


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["check"], help="check: the rule-to-action report")
    parser.add_argument("--json", action="store_true", help="one JSON document, for scripts")


def run(settings: Settings, args: argparse.Namespace) -> int:
    try:
        profiles = open_profiles(settings)
    except StoreNotFound as missing:
        print(f"metaledger: {missing}", file=sys.stderr)
        return 1
    try:
        rules = stores.tenant_code(profiles).all(RULE)
    finally:
        profiles.close()
    report = [_report(rule) for rule in rules]
    if args.json:
        sys.stdout.write(orjson.dumps(report, option=orjson.OPT_APPEND_NEWLINE).decode())
    else:
        _print(report)
    return 0


def _report(rule: dict[str, Any]) -> dict[str, Any]:
    found = findings(rule["script"])
    return {
        "id": rule["id"],
        "name": rule["name"],
        "order": rule["order"],
        "enabled": rule["enabled"],
        "rewrite": "redesign" if any(f.blocks for f in found) else "direct",
        "findings": [
            {"line": f.line, "rule": f.rule_does, "action": f.action_does, "blocks": f.blocks}
            for f in found
        ],
    }


def _print(report: list[dict[str, Any]]) -> None:
    if not report:
        print("No rules: nothing to migrate.")
        return
    for rule in report:
        state = "enabled" if rule["enabled"] else "disabled"
        print(f"{rule['name']} ({rule['id']}, order {rule['order']}, {state}): {rule['rewrite']}")
        for finding in rule["findings"]:
            mark = "!" if finding["blocks"] else "-"
            print(f"  {mark} line {finding['line']}: {finding['rule']} -> {finding['action']}")
    direct = sum(rule["rewrite"] == "direct" for rule in report)
    print(f"{direct} of {len(report)} rules map directly onto a post-login Action.")
