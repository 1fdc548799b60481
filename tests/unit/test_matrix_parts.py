"""The Matrix adapter is composed of parts (issue #26): built once, in order, each given the
parts it uses; none reads another's private state; a pool's sender accounts are built as such."""

from __future__ import annotations

import ast
from pathlib import Path
from types import SimpleNamespace

import pytest

import bot.platforms.matrix
from bot.platforms.matrix import MatrixPlatform
from bot.platforms.matrix.pool import MatrixPool

PACKAGE = Path(bot.platforms.matrix.__file__).parent
# nio's own internals the adapter has to reach (no public API for them).
NIO_INTERNALS = {"Api._build_path", "olm.device_store._entries", "super()._send"}


def platform(tmp_path: Path, user: str = "@bot:x", **options: object) -> MatrixPlatform:
    return MatrixPlatform(
        homeserver="http://127.0.0.1:9",
        user_id=user,
        password="secret",
        store_path=tmp_path / user,
        **options,  # type: ignore[arg-type]
    )


def test_no_part_reads_another_parts_private_state() -> None:
    reached = []
    for path in sorted(PACKAGE.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Attribute) or not node.attr.startswith("_"):
                continue
            owner = node.value
            if node.attr.startswith("__") or (
                isinstance(owner, ast.Name) and owner.id in ("self", "cls")
            ):
                continue
            if ast.unparse(node) not in NIO_INTERNALS:
                reached.append(f"{path.name}:{node.lineno} {ast.unparse(node)}")
    assert reached == []


def test_the_parts_share_one_connection_and_the_policy_reaches_the_invitations(
    tmp_path: Path,
) -> None:
    policy = SimpleNamespace(max_room_members=50)
    made = platform(tmp_path, invite_policy=policy)
    connection = made.connection
    parts = [made.login, made.keys, made.rooms, made.invitations, made.inbound, made.healing]
    parts += [made.gaps, made.sync, made.outbound]
    assert all(part.connection is connection for part in parts)
    assert made.inbound.rooms is made.rooms and made.invitations.rooms is made.rooms
    # The policy comes with construction (bot.runner builds it first), not set afterwards.
    assert made.invitations.policy is policy and made.invite_policy is policy


def test_a_pool_takes_its_sender_accounts_built_direct_only(tmp_path: Path) -> None:
    main = platform(tmp_path, "@bot:x")
    with pytest.raises(ValueError, match="direct_only"):
        MatrixPool([main, platform(tmp_path, "@bot-2:x")])
    sender = platform(tmp_path, "@bot-3:x", direct_only=True)
    pool = MatrixPool([main, sender])
    assert not main.direct_only and sender.direct_only
    assert pool.sending_accounts() == (main, sender)


def test_the_runner_builds_every_account_with_the_invite_policy(tmp_path: Path) -> None:
    from bot.config import load_settings
    from bot.runner import build_platform

    settings = load_settings(
        None,
        bot={"platform": "matrix"},
        matrix={
            "homeserver": "http://127.0.0.1:9",
            "user_id": "@bot:x",
            "password": "secret",
            "store_path": str(tmp_path / "main"),
            "senders": [
                {"user_id": "@bot-2:x", "password": "s", "store_path": str(tmp_path / "2")}
            ],
        },
    )
    policy = SimpleNamespace(max_room_members=50)
    pool = build_platform(settings, policy)  # type: ignore[arg-type]
    assert isinstance(pool, MatrixPool)
    assert [account.invitations.policy for account in pool.accounts] == [policy, policy]
