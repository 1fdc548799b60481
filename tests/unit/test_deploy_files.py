"""The deployment files say what the code does (issue #30): every command, path, port, volume and
environment variable in deploy/pixbot.service, compose.yaml, the Dockerfile and the deployment
guides is checked against the command line and the settings model. No Docker engine runs here:
what can be checked without one is checked."""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel
from typer.testing import CliRunner

from bot import exitcodes
from bot.cli import app as cli
from bot.config import Settings

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "deploy" / "pixbot.service"
COMPOSE = ROOT / "compose.yaml"
DOCKERFILE = ROOT / "Dockerfile"
GUIDES = [ROOT / "docs" / "deploy-tchap.md", ROOT / "docs" / "deploy-slack.md", ROOT / "README.md"]
VENV_PIXBOT = "/opt/pixbot/bin/pixbot"

runner = CliRunner()


def is_setting_variable(name: str) -> bool:
    """A ``PIXBOT_*`` variable pixbot reads: PIXBOT_CONFIG, or PIXBOT_<SECTION>__<KEY>."""
    if name == "PIXBOT_CONFIG":
        return True
    match = re.fullmatch(r"PIXBOT_([A-Z]+)__([A-Z_]+)", name)
    if not match:
        return False
    section = Settings.model_fields.get(match.group(1).lower())
    if section is None:
        return False
    model = section.annotation
    assert isinstance(model, type) and issubclass(model, BaseModel)
    return match.group(2).lower() in model.model_fields


def check_command(args: list[str]) -> None:
    """``pixbot ARGS`` names a real command with real options (``--help`` stops before any
    action; an unknown command or option exits 2)."""
    result = runner.invoke(cli, [*args, "--help"])
    assert result.exit_code == 0, f"pixbot {' '.join(args)}: {result.output}"


def unit_settings() -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for line in UNIT.read_text(encoding="utf-8").splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            values.setdefault(key.strip(), []).append(value.strip())
    return values


def test_the_unit_runs_pixbot_from_the_venv_under_opt() -> None:
    unit = unit_settings()
    for key in ("ExecStartPre", "ExecStart"):
        (command,) = unit[key]
        binary, *args = shlex.split(command)
        assert binary == VENV_PIXBOT
        check_command(args)
    assert unit["ProtectHome"] == ["yes"] and not VENV_PIXBOT.startswith("/home")
    assert unit["WorkingDirectory"] == unit["ReadWritePaths"] == ["/var/lib/pixbot"]
    guide = (ROOT / "docs" / "deploy-tchap.md").read_text(encoding="utf-8")
    assert "python3 -m venv /opt/pixbot" in guide and "/opt/pixbot/bin/pip install" in guide


def test_the_unit_does_not_restart_what_needs_a_person() -> None:
    unit = unit_settings()
    assert unit["Restart"] == ["always"]
    (codes,) = unit["RestartPreventExitStatus"]
    assert tuple(int(code) for code in codes.split()) == exitcodes.NEEDS_A_PERSON
    text = UNIT.read_text(encoding="utf-8")
    for code in (exitcodes.BAD_SETTINGS, exitcodes.LOGIN_REFUSED, exitcodes.TAKEN_OVER):
        assert f"{code} " in text


def test_the_unit_environment_is_read_by_pixbot() -> None:
    unit = unit_settings()
    for assignment in unit["Environment"]:
        name = assignment.partition("=")[0]
        assert is_setting_variable(name), name
    assert unit["Environment"] == ["PIXBOT_CONFIG=/etc/pixbot/pixbot.toml"]
    assert unit["EnvironmentFile"] == ["-/etc/pixbot/secrets.env"]


def _guide_toml(path: Path) -> list[str]:
    return re.findall(r"```toml\n(.*?)```", path.read_text(encoding="utf-8"), re.S)


@pytest.mark.parametrize("guide", GUIDES[:2], ids=lambda p: p.name)
def test_the_guides_configurations_load(guide: Path) -> None:
    """The configuration a guide shows passes the settings' validation as written, and the
    files it names are where the unit lets pixbot write."""
    (block,) = _guide_toml(guide)
    data = tomllib.loads(block)
    settings = Settings.model_validate(data)
    store = Path(settings.matrix.store_path)
    if guide.name == "deploy-tchap.md":
        assert store.is_relative_to(unit_settings()["ReadWritePaths"][0])


def _pixbot_lines(text: str) -> list[list[str]]:
    """The ``pixbot …`` commands of the shell blocks of a guide (after an optional alias)."""
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", text, re.S):
        for raw in block.replace("\\\n", " ").splitlines():
            line = raw.split(" #", 1)[0].strip()
            if line.startswith("alias pixbot="):
                alias = shlex.split(line.partition("=")[2])[0]
                words = shlex.split(alias)
                assert words[:4] == ["sudo", "-u", "pixbot", "-H"] and words[4] == VENV_PIXBOT
                commands.append(words[5:])
                continue
            words = shlex.split(line) if line else []
            if words and words[0] in {"pixbot", VENV_PIXBOT}:
                commands.append(words[1:])
    return commands


@pytest.mark.parametrize("guide", GUIDES, ids=lambda p: p.name)
def test_every_command_of_the_guides_exists(guide: Path) -> None:
    commands = _pixbot_lines(guide.read_text(encoding="utf-8"))
    assert commands
    for args in commands:
        check_command(args)


@pytest.mark.parametrize("guide", [*GUIDES, ROOT / "docs" / "tchap.md"], ids=lambda p: p.name)
def test_every_variable_of_the_guides_is_read_by_pixbot(guide: Path) -> None:
    names = set(re.findall(r"\bPIXBOT_[A-Z0-9_]+", guide.read_text(encoding="utf-8")))
    names -= {"PIXBOT_TEST_POSTGRES_URL", "PIXBOT_E2E_LAUNCH_N"}  # the test suite's own
    assert [name for name in sorted(names) if not is_setting_variable(name)] == []


def test_the_deploy_guide_creates_the_group_before_using_it() -> None:
    guide = (ROOT / "docs" / "deploy-tchap.md").read_text(encoding="utf-8")
    assert guide.index("groupadd --system --gid 10001 pixbot") < guide.index("-g pixbot")
    assert "createuser --pwprompt pixbot" in guide and "createdb --owner pixbot" in guide
    assert "tar -C /var/lib/pixbot -xzf" in guide and "pixbot.db-wal" in guide
    assert "-e PIXBOT_MATRIX__PASSWORD" not in guide


# -- compose.yaml and Dockerfile ------------------------------------------------------------------


def _compose() -> dict:  # type: ignore[type-arg]
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


def _recipe() -> list[list[str]]:
    lines = [
        line.lstrip("# ").strip()
        for line in COMPOSE.read_text(encoding="utf-8").splitlines()
        if line.startswith("#   docker compose")
    ]
    return [shlex.split(line) for line in lines]


def test_compose_recipe_runs_in_an_order_that_works() -> None:
    services = _compose()["services"]
    recipe = _recipe()
    steps = [" ".join(words[2:4]) for words in recipe]
    generate = next(i for i, w in enumerate(recipe) if w[-1] == "generate")
    first_up = next(i for i, w in enumerate(recipe) if w[2:4] == ["up", "-d"])
    assert generate < first_up, steps
    register = next(i for i, w in enumerate(recipe) if "register_new_matrix_user" in w)
    # Inside the running Synapse (exec), after it is up, and without a password argument.
    assert recipe[register][2:4] == ["exec", "synapse"] and register > first_up
    assert "-p" not in recipe[register] and "--password" not in recipe[register]
    for words in recipe:
        named = [w for w in words[3:] if w in services]
        assert named, words
        if words[2] == "run" and "pixbot" in words:
            args = words[words.index("pixbot") + 1 :]
            mounts = [words[i + 1].split(":")[1] for i, w in enumerate(words) if w == "-v"]
            for target in mounts:
                assert any(arg.startswith(target) for arg in args), (target, args)
            check_command(args)
    covered = {words[words.index("pixbot") + 1] for words in recipe if "pixbot" in words[3:]}
    assert {"db", "admin", "agents"} <= covered


def test_compose_environment_ports_and_volumes_match_the_settings() -> None:
    compose = _compose()
    declared_volumes = set(compose["volumes"])
    for name in ("pixbot", "pixbot-standby"):
        service = compose["services"][name]
        env = service["environment"]
        assert all(is_setting_variable(key) for key in env), list(env)
        listen_port = env["PIXBOT_HTTP__LISTEN"].rsplit(":", 1)[1]
        for mapping in service["ports"]:
            assert mapping.rsplit(":", 1)[1] == listen_port
        mounts = dict(volume.split(":")[::-1] for volume in service["volumes"])
        assert set(mounts.values()) <= declared_volumes
        assert any(env["PIXBOT_MATRIX__STORE_PATH"].startswith(target) for target in mounts)
        assert "on-failure" in service["restart"]
    database = compose["services"]["postgres"]["environment"]
    url = compose["services"]["pixbot"]["environment"]["PIXBOT_BOT__DATABASE_URL"]
    assert url.startswith(f"postgresql://{database['POSTGRES_USER']}:")
    assert url.endswith(f"@postgres/{database['POSTGRES_DB']}")


def test_dockerfile_user_env_port_and_command() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    uid = re.search(r"useradd [^\n]*--uid (\d+) --gid (\d+)", text)
    gid = re.search(r"groupadd [^\n]*--gid (\d+) pixbot", text)
    user = re.search(r"^USER (\d+):(\d+)$", text, re.M)
    assert uid and gid and user
    assert uid.group(1) == user.group(1) and uid.group(2) == gid.group(1) == user.group(2)
    names = re.findall(r"\b(PIXBOT_[A-Z_]+)=", text)
    assert names and all(is_setting_variable(name) for name in names)
    listen = re.search(r"PIXBOT_HTTP__LISTEN=[\d.]+:(\d+)", text)
    assert listen and f"EXPOSE {listen.group(1)}" in text
    assert f"127.0.0.1:{listen.group(1)}/healthz" in text
    assert 'ENTRYPOINT ["pixbot"]' in text
    cmd = re.search(r"^CMD (\[.*\])$", text, re.M)
    assert cmd
    check_command(yaml.safe_load(cmd.group(1)))


def test_the_exit_codes_are_the_ones_the_code_returns() -> None:
    from bot.app import EXIT_TAKEN_OVER

    assert exitcodes.TAKEN_OVER == EXIT_TAKEN_OVER
