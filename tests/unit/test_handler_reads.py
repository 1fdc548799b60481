"""Handlers reach the database through the use cases of ``bot/services`` (issue #26).

import-linter sees imports only (contract ``handlers-repositories``); a handler could still
call a repository through the unit of work it is handed. This reads the handlers' code —
route converters and prefetches included — for ``ctx.uow.<repository>`` and
``uow.<repository>``: none is left, and none may come back.
"""

from __future__ import annotations

import ast
from pathlib import Path

import bot.handlers

HANDLERS = Path(bot.handlers.__file__).parent


def repository_uses(source: str, name: str) -> list[str]:
    uses = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Attribute):
            continue
        owner = node.value
        if (isinstance(owner, ast.Attribute) and owner.attr == "uow") or (
            isinstance(owner, ast.Name) and owner.id == "uow"
        ):
            uses.append(f"{name}:{node.lineno} uow.{node.attr}")
    return uses


def test_handlers_call_use_cases_instead_of_repositories() -> None:
    modules = sorted(HANDLERS.glob("*.py"))
    assert {"arguments.py", "campaigns.py", "faq.py", "participation.py"} <= {
        m.name for m in modules
    }
    reading = [
        use for m in modules for use in repository_uses(m.read_text(encoding="utf-8"), m.name)
    ]
    assert reading == []


def test_the_check_sees_a_repository_read() -> None:
    source = (
        "def handler(ctx, args):\n"
        "    ctx.uow.campaigns.get(1)\n"
        "    call(ctx.uow)\n"  # handing the unit of work to a use case is no read
        "    rooms = read(lambda uow: uow.campaigns.with_code('X'))\n"
    )
    assert repository_uses(source, "h.py") == ["h.py:2 uow.campaigns", "h.py:4 uow.campaigns"]
