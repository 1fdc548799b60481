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

from bot.translation import N_, translate
from bot.translation import gettext as _

_HIDDEN = N_("(valeur masquée)")


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
        return _("valeur inconnue ; valeurs possibles : {values}", values=expected)
    integer, number, boolean = (
        N_("nombre entier attendu"),
        N_("nombre attendu"),
        N_("true ou false attendu"),
    )
    section = N_("section attendue, entre crochets : [section]")
    words = {
        "int_parsing": integer,
        "int_type": integer,
        "int_from_float": integer,
        "float_parsing": number,
        "float_type": number,
        "bool_parsing": boolean,
        "bool_type": boolean,
        "string_type": N_("texte entre guillemets attendu"),
        "list_type": N_("liste attendue, entre crochets"),
        "missing": N_("valeur manquante"),
        "model_type": section,
        "dict_type": section,
        "model_attributes_type": section,
    }
    if kind in words:
        return translate(words[kind])
    bounds = {
        "greater_than": N_("doit être supérieur à {gt}"),
        "greater_than_equal": N_("doit être au moins {ge}"),
        "less_than": N_("doit être inférieur à {lt}"),
        "less_than_equal": N_("doit être au plus {le}"),
    }
    if kind in bounds:
        return translate(bounds[kind]).format(**ctx)
    return _("valeur refusée ({error})", error=error["msg"])


def describe(exc: ValidationError, settings: type[BaseModel]) -> str:
    """One French line per bad key of ``settings`` (the model whose loading failed)."""
    return "\n".join(describe_one(error, settings) for error in exc.errors())


def describe_one(error: ErrorDetails, settings: type[BaseModel]) -> str:
    loc = [str(part) for part in error["loc"] if not isinstance(part, int)]
    sections = settings.model_fields
    if not loc:
        return _("configuration invalide : {problem}", problem=_problem(error))
    name = loc[0]
    if name not in sections:
        close = difflib.get_close_matches(name, list(sections), n=1)
        hint = _(" ; vouliez-vous dire [{name}] ?", name=close[0]) if close else ""
        return _(
            "[{name}] : section inconnue{hint} Sections : {sections}.",
            name=name,
            hint=hint,
            sections=", ".join(sections),
        )
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
        hint = _("vouliez-vous dire {key} ?", key=close[0]) if close else _("clés connues :")
        known = "" if close else " " + ", ".join(section.model_fields)
        return _(
            "{name}.{key} : clé inconnue dans [{name}] ; {hint}",
            name=name,
            key=key,
            hint=hint + known,
        )
    if is_secret(section, key):
        shown = translate(_HIDDEN)
    else:
        shown = hide_url_password(toml_value(error.get("input")))
    source = f" (variable {env_name(name, key)})" if os.environ.get(env_name(name, key)) else ""
    example = f"{key} = {toml_value(field_example(section, key))}"
    if is_secret(section, key):
        example = _("{variable}=… dans l'environnement du service", variable=env_name(name, key))
    return _(
        "{name}.{key} = {value} : {problem} ; exemple : {example}",
        name=name,
        key=key,
        value=shown + source,
        problem=_problem(error),
        example=example,
    )


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
    where = _("{name}.{key} n°{n}", name=name, key=key, n=rest[0] + 1)
    sub = [str(part) for part in rest[1:] if not isinstance(part, int)]
    if not sub:
        return f"{where} : {_problem(error)}"
    field = sub[0]
    if field not in table.model_fields:
        close = difflib.get_close_matches(field, list(table.model_fields), n=1)
        hint = _("vouliez-vous dire {key} ?", key=close[0]) if close else _("clés connues :")
        known = "" if close else " " + ", ".join(table.model_fields)
        return _(
            "{where}.{field} : clé inconnue dans [[{name}.{key}]] ; {hint}",
            where=where,
            field=field,
            name=name,
            key=key,
            hint=hint + known,
        )
    if is_secret(table, field):
        return f"{where}.{field} = {translate(_HIDDEN)} : {_problem(error)}"
    shown = toml_value(error.get("input")) if error["type"] != "missing" else _("(absent)")
    example = f"{field} = {toml_value(field_example(table, field))}"
    return _(
        "{name}.{key} = {value} : {problem} ; exemple : {example}",
        name=where,
        key=field,
        value=shown,
        problem=_problem(error),
        example=example,
    )
