"""`pixbot forget` names the steps left to redo in the operator's language: every erasure step
any adapter or the CLI registers has a label (its id stays English for logs and metrics)."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import bot
from bot import translation
from bot.cli.erasure import STEP_LABELS, step_label


def _erasure_step_names() -> set[str]:
    """The ``name`` of every class in the bot package that implements an erasure step."""
    names: set[str] = set()
    for module_info in pkgutil.walk_packages(bot.__path__, "bot."):
        if module_info.name.endswith("__main__"):
            continue  # runs the command line when imported
        module = importlib.import_module(module_info.name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            erase = getattr(cls, "erase", None)
            name = cls.__dict__.get("name")
            if isinstance(name, str) and erase and inspect.iscoroutinefunction(erase):
                names.add(name)
    return names


def test_every_erasure_step_has_a_label() -> None:
    names = _erasure_step_names()
    assert {"database", "slack spool", "matrix key store"} <= names
    assert names - set(STEP_LABELS) == set()


@pytest.mark.parametrize(
    ("lang", "expected"), [("fr", "magasin de clés Matrix"), ("en", "Matrix key store")]
)
def test_a_step_is_named_in_the_operators_language(lang: str, expected: str) -> None:
    translation.set_language(lang)
    try:
        assert step_label("matrix key store") == expected
    finally:
        translation.set_language("fr")
    assert step_label("an unknown step") == "an unknown step"
