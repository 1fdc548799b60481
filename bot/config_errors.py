"""A bad setting as one French line: the key, the value (never a secret's), what is wrong, and an
example taken from the settings model itself, so that the example cannot drift from the code.

``schedule.holidays = "XX" : pays inconnu : code ISO à deux lettres (FR), ou none pour aucun ;
exemple : holidays = "FR-57"``
"""

from __future__ import annotations

import difflib
import json
import os
import re
import typing
from typing import Any

from pydantic import BaseModel, SecretStr, ValidationError
from pydantic_core import ErrorDetails

_HIDDEN = "(valeur masquée)"


def toml_value(value: Any) -> str:
    """``value`` as it is written in pixbot.toml."""
    if isinstance(value, SecretStr):
        return '"…"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if value is None:
        return '""'
    return json.dumps(value, ensure_ascii=False)


def field_example(section: type[BaseModel], key: str) -> Any:
    """The documented example of ``key``, else its default (what the reference shows)."""
    field = section.model_fields[key]
    if field.examples:
        return field.examples[0]
    return field.get_default(call_default_factory=True)


def is_secret(section: type[BaseModel], key: str) -> bool:
    return section.model_fields[key].annotation is SecretStr


def env_name(section: str, key: str) -> str:
    return f"PIXBOT_{section.upper()}__{key.upper()}"


def hide_url_password(text: str) -> str:
    return re.sub(r"(://[^:/@\s]+):[^@\s]*@", r"\1:***@", text)


def _problem(error: ErrorDetails) -> str:
    kind, ctx = error["type"], error.get("ctx") or {}
    if kind == "value_error":
        return str(ctx.get("error", error["msg"]))
    if kind == "literal_error":
        expected = str(ctx.get("expected", "")).replace("'", "").replace(" or ", " ou ")
        return f"valeur inconnue ; valeurs possibles : {expected}"
    words = {
        "int_parsing": "nombre entier attendu",
        "int_type": "nombre entier attendu",
        "int_from_float": "nombre entier attendu",
        "float_parsing": "nombre attendu",
        "float_type": "nombre attendu",
        "bool_parsing": "true ou false attendu",
        "bool_type": "true ou false attendu",
        "string_type": "texte entre guillemets attendu",
        "list_type": "liste attendue, entre crochets",
        "missing": "valeur manquante",
        "model_type": "section attendue, entre crochets : [section]",
        "dict_type": "section attendue, entre crochets : [section]",
        "model_attributes_type": "section attendue, entre crochets : [section]",
    }
    if kind in words:
        return words[kind]
    bounds = {
        "greater_than": "doit être supérieur à {gt}",
        "greater_than_equal": "doit être au moins {ge}",
        "less_than": "doit être inférieur à {lt}",
        "less_than_equal": "doit être au plus {le}",
    }
    if kind in bounds:
        return bounds[kind].format(**ctx)
    return f"valeur refusée ({error['msg']})"


def describe(exc: ValidationError, settings: type[BaseModel]) -> str:
    """One French line per bad key of ``settings`` (the model whose loading failed)."""
    return "\n".join(describe_one(error, settings) for error in exc.errors())


def describe_one(error: ErrorDetails, settings: type[BaseModel]) -> str:
    loc = [str(part) for part in error["loc"] if not isinstance(part, int)]
    sections = settings.model_fields
    if not loc:
        return f"configuration invalide : {_problem(error)}"
    name = loc[0]
    if name not in sections:
        close = difflib.get_close_matches(name, list(sections), n=1)
        hint = f" ; vouliez-vous dire [{close[0]}] ?" if close else ""
        return f"[{name}] : section inconnue{hint} Sections : {', '.join(sections)}."
    section = sections[name].annotation
    assert isinstance(section, type) and issubclass(section, BaseModel)
    if len(loc) == 1:
        return f"[{name}] : {_problem(error)}"
    key = loc[1]
    nested = _table_list(section, key)
    if nested is not None:
        return _describe_table(error, name, key, nested)
    if key not in section.model_fields:
        close = difflib.get_close_matches(key, list(section.model_fields), n=1)
        hint = f"vouliez-vous dire {close[0]} ?" if close else "clés connues :"
        known = "" if close else " " + ", ".join(section.model_fields)
        return f"{name}.{key} : clé inconnue dans [{name}] ; {hint}{known}"
    if is_secret(section, key):
        shown = _HIDDEN
    else:
        shown = hide_url_password(toml_value(error.get("input")))
    source = f" (variable {env_name(name, key)})" if os.environ.get(env_name(name, key)) else ""
    example = f"{key} = {toml_value(field_example(section, key))}"
    if is_secret(section, key):
        example = f"{env_name(name, key)}=… dans l'environnement du service"
    return f"{name}.{key} = {shown}{source} : {_problem(error)} ; exemple : {example}"


def _table_list(section: type[BaseModel], key: str) -> type[BaseModel] | None:
    """The model of a list of tables (``[[matrix.senders]]``), or None for any other key."""
    field = section.model_fields.get(key)
    if field is None or typing.get_origin(field.annotation) is not list:
        return None
    (item,) = typing.get_args(field.annotation) or (None,)
    return item if isinstance(item, type) and issubclass(item, BaseModel) else None


def _describe_table(error: ErrorDetails, name: str, key: str, table: type[BaseModel]) -> str:
    """A bad entry of a list of tables: ``matrix.senders n°2.user_id = "x" : …``. The whole
    table is never shown (it holds secrets)."""
    rest = list(error["loc"])[2:]
    if not rest or not isinstance(rest[0], int):
        return f"{name}.{key} : {_problem(error)}"
    where = f"{name}.{key} n°{rest[0] + 1}"
    sub = [str(part) for part in rest[1:] if not isinstance(part, int)]
    if not sub:
        return f"{where} : {_problem(error)}"
    field = sub[0]
    if field not in table.model_fields:
        close = difflib.get_close_matches(field, list(table.model_fields), n=1)
        hint = f"vouliez-vous dire {close[0]} ?" if close else "clés connues :"
        known = "" if close else " " + ", ".join(table.model_fields)
        return f"{where}.{field} : clé inconnue dans [[{name}.{key}]] ; {hint}{known}"
    if is_secret(table, field):
        return f"{where}.{field} = {_HIDDEN} : {_problem(error)}"
    shown = toml_value(error.get("input")) if error["type"] != "missing" else "(absent)"
    example = f"{field} = {toml_value(field_example(table, field))}"
    return f"{where}.{field} = {shown} : {_problem(error)} ; exemple : {example}"
