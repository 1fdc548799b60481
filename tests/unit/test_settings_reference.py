"""docs/settings.md is the settings model, written out (issue #30): regenerated, it is identical;
every key has its French description and every key with a check of its own says what it accepts."""

from __future__ import annotations

from pathlib import Path

from bot.settings_reference import french, render, sections

ROOT = Path(__file__).resolve().parents[2]


def test_the_reference_is_the_model() -> None:
    written = (ROOT / "docs" / "settings.md").read_text(encoding="utf-8")
    assert written == render(), "python -m bot.settings_reference > docs/settings.md"


def test_every_key_is_described_and_nothing_else() -> None:
    model = {section: set(m.model_fields) for section, m in sections()}
    described = {section: set(keys) for section, keys in french().items()}
    assert described == model


def test_every_key_with_its_own_check_says_what_it_accepts() -> None:
    for section, model in sections():
        validated = {
            name
            for decorator in model.__pydantic_decorators__.field_validators.values()
            for name in decorator.info.fields
        }
        for key in validated:
            assert french()[section][key].get("check"), f"{section}.{key}"


def test_the_readme_and_the_deploy_guide_link_to_it() -> None:
    assert "docs/settings.md" in (ROOT / "README.md").read_text(encoding="utf-8")
    assert "(settings.md)" in (ROOT / "docs" / "deploy-tchap.md").read_text(encoding="utf-8")
