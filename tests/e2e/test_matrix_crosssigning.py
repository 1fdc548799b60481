"""Issue #16 "Trusted on Tchap", against a real Synapse.

What another user's client sees of the bot (``/keys/query``) is checked the way Element checks
it: the master key signs the self-signing key, which signs the bot's device, each Ed25519
signature verified here with signedjson. The identity "created by a person" is built in this
file with cryptography/signedjson directly, independently of the bot's own code.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import os
import secrets
import stat
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import base58
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from nio import RoomPreset
from signedjson.key import decode_verify_key_bytes, generate_signing_key, get_verify_key
from signedjson.sign import SignatureVerifyException, sign_json, verify_signed_json
from unpaddedbase64 import decode_base64, encode_base64

from bot.core import Incoming, Outgoing
from bot.platforms.matrix import MatrixPlatform
from bot.platforms.matrix.identity_state import IdentityState
from bot.platforms.matrix.status import describe
from tests.helpers.matrix_client import BotAccount, MatrixUser, next_message, running
from tests.helpers.synapse import SynapseServer, make_synapse

pytestmark = pytest.mark.synapse

WAIT = 60.0
MEGOLM = "m.megolm.v1.aes-sha2"


# -- what another user sees ----------------------------------------------------------------------


async def keys_query(server: SynapseServer, token: str, user_id: str) -> dict[str, Any]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{server.base_url}/_matrix/client/v3/keys/query",
            json={"device_keys": {user_id: []}},
            headers={"Authorization": f"Bearer {token}"},
        ) as answer,
    ):
        assert answer.status == 200, await answer.text()
        body: dict[str, Any] = await answer.json()
        return body


def verify(obj: dict[str, Any], user_id: str, public: str, key_name: str | None = None) -> None:
    """Raises unless ``obj`` carries a valid signature by Ed25519 key ``public`` of ``user_id``
    (key id ``ed25519:<key_name>``, the public key itself for cross-signing keys)."""
    key = decode_verify_key_bytes(f"ed25519:{key_name or public}", decode_base64(public))
    verify_signed_json(obj, user_id, key)


def only_key(obj: dict[str, Any]) -> str:
    [public] = obj["keys"].values()
    return str(public)


def verified_chain(query: dict[str, Any], user_id: str, device_id: str) -> str:
    """Check master → self-signing → device (and device → master); return the master key."""
    master_obj = query["master_keys"][user_id]
    ssk_obj = query["self_signing_keys"][user_id]
    device = query["device_keys"][user_id][device_id]
    master, ssk = only_key(master_obj), only_key(ssk_obj)
    assert master_obj["usage"] == ["master"] and ssk_obj["usage"] == ["self_signing"]
    verify(ssk_obj, user_id, master)
    verify(device, user_id, ssk)
    return master


def master_signed_by_device(query: dict[str, Any], user_id: str, device_id: str) -> None:
    """The device vouches for the master key too, as Element's devices do (Synapse shows these
    signatures only to the key's owner)."""
    device = query["device_keys"][user_id][device_id]
    verify(
        query["master_keys"][user_id], user_id, device["keys"][f"ed25519:{device_id}"], device_id
    )


# -- a person's client creating the bot's identity (independent implementation) -----------------


def person_encrypt(key: bytes, name: str, secret: str) -> dict[str, str]:
    material = HKDF(hashes.SHA256(), 64, salt=bytes(32), info=name.encode()).derive(key)
    iv = bytearray(os.urandom(16))
    iv[8] &= 0x7F
    encryptor = Cipher(algorithms.AES(material[:32]), modes.CTR(bytes(iv))).encryptor()
    ciphertext = encryptor.update(secret.encode()) + encryptor.finalize()
    mac = hmac.new(material[32:], ciphertext, hashlib.sha256).digest()
    return {
        "iv": base64.b64encode(bytes(iv)).decode(),
        "ciphertext": base64.b64encode(ciphertext).decode(),
        "mac": base64.b64encode(mac).decode(),
    }


def person_recovery_key(key: bytes) -> str:
    raw = b"\x8b\x01" + key
    parity = 0
    for byte in raw:
        parity ^= byte
    text = base58.b58encode(raw + bytes([parity])).decode()
    return " ".join(text[i : i + 4] for i in range(0, len(text), 4))


async def create_identity_as_a_person(
    server: SynapseServer, user_id: str, password: str
) -> tuple[str, str]:
    """Log in as the bot's account (like Element would), create cross-signing keys and secret
    storage under a new recovery key; return (recovery key, master public key)."""
    base = f"{server.base_url}/_matrix/client/v3"
    async with aiohttp.ClientSession() as http:
        login = {
            "type": "m.login.password",
            "identifier": {"type": "m.id.user", "user": user_id},
            "password": password,
            "device_id": "ELEMENTWEB",
        }
        async with http.post(f"{base}/login", json=login) as answer:
            token = (await answer.json())["access_token"]
        auth = {"Authorization": f"Bearer {token}"}

        keys = {}
        for usage in ("master", "self_signing", "user_signing"):
            signing = generate_signing_key("x")
            signing.version = encode_base64(bytes(get_verify_key(signing)))
            keys[usage] = signing

        def public(usage: str) -> dict[str, Any]:
            pub = keys[usage].version
            return {"user_id": user_id, "usage": [usage], "keys": {f"ed25519:{pub}": pub}}

        body: dict[str, Any] = {
            "master_key": public("master"),
            "self_signing_key": sign_json(public("self_signing"), user_id, keys["master"]),
            "user_signing_key": sign_json(public("user_signing"), user_id, keys["master"]),
        }
        url = f"{base}/keys/device_signing/upload"
        async with http.post(url, json=body, headers=auth) as answer:
            first = await answer.json()
            status = answer.status
        if status == 401:
            body["auth"] = {
                "type": "m.login.password",
                "identifier": {"type": "m.id.user", "user": user_id},
                "password": password,
                "session": first.get("session"),
            }
            async with http.post(url, json=body, headers=auth) as answer:
                assert answer.status == 200, await answer.text()
        else:
            assert status == 200, first

        storage_key = secrets.token_bytes(32)
        key_id = "PersonKey"
        check = person_encrypt(storage_key, "", "\0" * 32)
        account_data = {
            f"m.secret_storage.key.{key_id}": {
                "algorithm": "m.secret_storage.v1.aes-hmac-sha2",
                "iv": check["iv"],
                "mac": check["mac"],
            },
            "m.secret_storage.default_key": {"key": key_id},
        }
        for usage, signing in keys.items():
            name = f"m.cross_signing.{usage}"
            seed = encode_base64(signing.encode())
            account_data[name] = {"encrypted": {key_id: person_encrypt(storage_key, name, seed)}}
        for event_type, content in account_data.items():
            url = f"{base}/user/{user_id}/account_data/{event_type}"
            async with http.put(url, json=content, headers=auth) as answer:
                assert answer.status == 200, await answer.text()
    return person_recovery_key(storage_key), str(keys["master"].version)


# -- helpers -------------------------------------------------------------------------------------


async def dm_with_bot(agent: MatrixUser, bot_id: str) -> str:
    """The agent opens an encrypted direct room with the (running) bot and waits for it."""
    created = await agent.client.room_create(
        is_direct=True,
        preset=RoomPreset.trusted_private_chat,
        invite=[bot_id],
        initial_state=[
            {"type": "m.room.encryption", "state_key": "", "content": {"algorithm": MEGOLM}}
        ],
    )
    room_id = str(created.room_id)  # type: ignore[union-attr]
    await agent.wait_for(lambda: agent.has_joined(room_id, bot_id))
    await agent.wait_for(
        lambda: True if list(agent.client.device_store.active_user_devices(bot_id)) else None
    )
    return room_id


async def ping_pong(
    platform: MatrixPlatform,
    received: asyncio.Queue[Incoming],
    agent: MatrixUser,
    room_id: str,
    label: str,
) -> None:
    """The agent writes, the bot reads it (decrypted) and answers, the agent reads the answer."""
    await agent.send_text(room_id, f"ping {label}")
    incoming = await next_message(received)
    assert incoming.text == f"ping {label}" and not incoming.undecryptable
    await platform.send(
        Outgoing(text=f"pong {label}", key=f"pong-{label}", conversation_id=room_id)
    )
    await agent.wait_for(
        lambda: (
            True
            if any(
                getattr(e, "body", None) == f"pong {label}"
                for e in agent.messages_from(platform.bot_id, room_id)
            )
            else None
        )
    )


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# -- tests ---------------------------------------------------------------------------------------


async def test_bootstrap_publishes_a_verified_chain_kept_across_restarts(
    bot: BotAccount, agent: MatrixUser, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    token = agent.client.access_token
    before = await keys_query(bot.server, token, bot.user_id)
    assert bot.user_id not in before.get("master_keys", {})

    first = bot.platform(store)
    await first.start()
    status = first.identity_status
    assert status is not None and status.state == IdentityState.VERIFIED and status.cross_signed
    device_id = first.device_id
    master = verified_chain(
        await keys_query(bot.server, token, bot.user_id), bot.user_id, device_id
    )
    assert status.master_key == master
    own_view = await keys_query(bot.server, first.client.access_token, bot.user_id)
    master_signed_by_device(own_view, bot.user_id, device_id)

    key_file = store / "recovery-key.txt"
    assert mode(key_file) == 0o600 and mode(store) == 0o700
    recovery_text = key_file.read_text()
    key_line = next(line for line in recovery_text.splitlines() if not line.startswith("#"))
    assert key_line.startswith("Es") and len(key_line.replace(" ", "")) == 48

    # `pixbot matrix status`: what the operator sees, with no secret in it.
    info = await describe(store, bot.server.base_url)
    assert info["cross_signed"] is True and info["device_id"] == device_id
    assert info["master_fingerprint"].replace(" ", "") == master
    assert info["store"]["mode"] == "0o700" and info["store"]["recovery-key.txt"] == "0o600"
    dumped = json.dumps(info)
    assert key_line not in dumped and first.client.access_token not in dumped
    await first.stop()

    second = bot.platform(store)
    await second.start()
    assert second.device_id == device_id
    assert second.identity_status is not None and second.identity_status.cross_signed
    assert not second.identity_status.reset_detected
    after = await keys_query(bot.server, token, bot.user_id)
    assert verified_chain(after, bot.user_id, device_id) == master
    assert key_file.read_text() == recovery_text
    await second.stop()


async def test_lost_store_and_recovery_key_sign_a_new_device_with_the_same_identity(
    bot: BotAccount, agent: MatrixUser, tmp_path: Path
) -> None:
    first = bot.platform(tmp_path / "store")
    await first.start()
    master = first.identity_status.master_key  # type: ignore[union-attr]
    recovery = (tmp_path / "store" / "recovery-key.txt").read_text().splitlines()[-1]
    await first.stop()

    # The store is gone (new host): a new device, signed by the same identity.
    second = bot.platform(tmp_path / "new-store", device_id="PIXBOTNEW", recovery_key=recovery)
    await second.start()
    assert second.device_id == "PIXBOTNEW"
    status = second.identity_status
    assert status is not None and status.state == IdentityState.VERIFIED
    query = await keys_query(bot.server, agent.client.access_token, bot.user_id)
    assert verified_chain(query, bot.user_id, "PIXBOTNEW") == master
    assert not (tmp_path / "new-store" / "recovery-key.txt").exists()
    await second.stop()


async def test_identity_made_by_a_person_is_used_and_a_wrong_key_keeps_the_bot_serving(
    bot: BotAccount, agent: MatrixUser, tmp_path: Path
) -> None:
    recovery, master = await create_identity_as_a_person(bot.server, bot.user_id, bot.password)

    wrong = person_recovery_key(secrets.token_bytes(32))
    refused = bot.platform(tmp_path / "store-wrong", device_id="PIXBOTWRONG", recovery_key=wrong)
    async with running(refused) as received:
        status = refused.identity_status
        assert status is not None and status.state == IdentityState.WRONG_RECOVERY_KEY
        assert not status.cross_signed and "recovery_key" in status.message
        assert status.as_dict()["message"].startswith("La clé de récupération")
        # Not trusted, but still serving the agents.
        room_id = await dm_with_bot(agent, bot.user_id)
        await ping_pong(refused, received, agent, room_id, "non vérifié")
    query = await keys_query(bot.server, agent.client.access_token, bot.user_id)
    assert only_key(query["master_keys"][bot.user_id]) == master  # not replaced by the bot
    with pytest.raises(SignatureVerifyException):
        verified_chain(query, bot.user_id, "PIXBOTWRONG")

    none_given = bot.platform(tmp_path / "store-none", device_id="PIXBOTNONE")
    await none_given.start()
    assert none_given.identity_status.state == IdentityState.NO_RECOVERY_KEY  # type: ignore[union-attr]
    await none_given.stop()

    trusted = bot.platform(tmp_path / "store-right", device_id="PIXBOTOK", recovery_key=recovery)
    await trusted.start()
    assert trusted.identity_status.state == IdentityState.VERIFIED  # type: ignore[union-attr]
    query = await keys_query(bot.server, agent.client.access_token, bot.user_id)
    assert verified_chain(query, bot.user_id, "PIXBOTOK") == master
    await trusted.stop()


async def test_identity_reset_by_someone_else_is_noticed_at_sync_and_signed_again(
    bot: BotAccount, agent: MatrixUser, tmp_path: Path
) -> None:
    platform = bot.platform(tmp_path / "store")
    async with running(platform):
        # Synapse reports one's own key changes through the rooms one is in (as for anyone).
        await dm_with_bot(agent, bot.user_id)
        old_master = platform.identity_status.master_key  # type: ignore[union-attr]
        # A person resets the identity (new keys, new secret storage, new recovery key).
        recovery, new_master = await create_identity_as_a_person(
            bot.server, bot.user_id, bot.password
        )
        async with asyncio.timeout(WAIT):
            while not platform.identity_status.reset_detected:  # type: ignore[union-attr]
                await agent.sync(timeout_ms=200)  # a bounded wait for the bot's next sync
        status = platform.identity_status
        assert status is not None and status.previous_master_key == old_master
        assert status.master_key == new_master and not status.cross_signed
        assert status.message.startswith("L'identité de signature croisée du compte du bot a été")
    # Restarted with the new recovery key, the bot signs its device with the new identity.
    again = bot.platform(tmp_path / "store", recovery_key=recovery)
    await again.start()
    assert again.identity_status.state == IdentityState.VERIFIED  # type: ignore[union-attr]
    assert again.identity_status.master_key == new_master  # type: ignore[union-attr]
    await again.stop()


TOKEN_LIFETIME = 10.0  # seconds; Synapse accepts it (the issue suggested 1 minute)


@pytest.fixture
async def short_tokens(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[SynapseServer]:
    server = make_synapse(
        tmp_path_factory.mktemp("synapse-short-tokens"),
        {"refreshable_access_token_lifetime": f"{int(TOKEN_LIFETIME)}s"},
    )
    yield server
    server.cleanup()


async def own_devices(server: SynapseServer, token: str) -> set[str]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(
            f"{server.base_url}/_matrix/client/v3/devices",
            headers={"Authorization": f"Bearer {token}"},
        ) as answer,
    ):
        assert answer.status == 200, await answer.text()
        return {d["device_id"] for d in (await answer.json())["devices"]}


async def test_expiring_tokens_are_refreshed_on_the_same_device_without_losing_messages(
    short_tokens: SynapseServer, tmp_path: Path
) -> None:
    bot = BotAccount(short_tokens)
    agent = await MatrixUser(short_tokens, tmp_path / "agent-store").login()
    platform = bot.platform(tmp_path / "store")
    try:
        async with running(platform) as received:
            session = json.loads((tmp_path / "store" / "session.json").read_text())
            assert session["refresh_token"], "the login asked for a refresh token"
            devices = await own_devices(short_tokens, platform.client.access_token)
            room_id = await dm_with_bot(agent, bot.user_id)
            for round_ in range(3):
                renewals = platform.client.renewals
                # Past the lifetime of the token in use: the next request is refused first.
                await asyncio.sleep(TOKEN_LIFETIME + 1)
                await platform.send(
                    Outgoing(text=f"pong {round_}", key=f"pong-{round_}", conversation_id=room_id)
                )
                assert platform.client.renewals > renewals
                await agent.send_text(room_id, f"ping {round_}")
                incoming = await next_message(received)
                assert incoming.text == f"ping {round_}"
            await agent.wait_for(
                lambda: True if len(agent.messages_from(bot.user_id, room_id)) >= 3 else None
            )
            assert received.empty(), "a message reached the handler twice"
            assert platform.device_id == "PIXBOT"
            assert await own_devices(short_tokens, platform.client.access_token) == devices
            assert platform.identity_status.cross_signed  # type: ignore[union-attr]
        history = await agent.history_from(bot.user_id, room_id)
        bodies = sorted(getattr(e, "body", "?") for e in history)
        assert bodies == ["pong 0", "pong 1", "pong 2"]
        stored = json.loads((tmp_path / "store" / "session.json").read_text())
        assert stored["access_token"] != session["access_token"]
        assert stored["device_id"] == "PIXBOT"
    finally:
        await agent.close()
