"""docs/settings.md, generated from the settings model: every key, its type, default, variable
and checks, so that the reference cannot drift from the code (a test compares them).

    python -m bot.settings_reference > docs/settings.md
"""

from __future__ import annotations

import sys
import typing
from functools import cache
from importlib import resources
from typing import Any

import yaml
from annotated_types import Ge, Gt, Le, Lt
from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo

from bot.config import Settings
from bot.config_errors import env_name, field_example, toml_value

HEADER = """# Réglages de pixbot

Généré depuis le modèle des réglages (`bot/config.py`) par
`python -m bot.settings_reference > docs/settings.md` ; un test vérifie que ce fichier et le
modèle disent la même chose. Chaque clé se règle dans `pixbot.toml` (chemin : `--config FICHIER`
ou `PIXBOT_CONFIG`) ou par sa variable d'environnement, qui l'emporte. Chaque valeur est vérifiée
au chargement : une valeur refusée arrête pixbot sur une ligne qui nomme la clé, la valeur (jamais
celle d'un secret) et un exemple, avec le code de sortie 2. Une clé inconnue est refusée de même.
Les secrets ne viennent que du fichier ou de l'environnement et ne sont jamais affichés.
"""


@cache
def french() -> dict[str, dict[str, dict[str, Any]]]:
    text = (resources.files("bot") / "messages" / "settings" / "fr.yaml").read_text("utf-8")
    data: dict[str, dict[str, dict[str, Any]]] = yaml.safe_load(text)
    return data


def sections() -> list[tuple[str, type[BaseModel]]]:
    result = []
    for name, field in Settings.model_fields.items():
        model = field.annotation
        assert isinstance(model, type) and issubclass(model, BaseModel)
        result.append((name, model))
    return result


def kind(annotation: Any) -> str:
    if annotation is SecretStr:
        return "secret"
    if typing.get_origin(annotation) is typing.Literal:
        return " \\| ".join(f"`{value}`" for value in typing.get_args(annotation))
    names = {str: "texte", int: "entier", float: "nombre", bool: "booléen"}
    table = table_model(annotation)
    if table is not None:
        return "tables, voir plus bas"
    if typing.get_origin(annotation) is list:
        return "liste de textes"
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if args:
        return names.get(args[0], str(args[0])) + " ou vide"
    return names.get(annotation, str(annotation))


def table_model(annotation: Any) -> type[BaseModel] | None:
    """The model of a list of tables (``[[matrix.senders]]``), else None."""
    if typing.get_origin(annotation) is not list:
        return None
    args = typing.get_args(annotation)
    item = args[0] if args else None
    return item if isinstance(item, type) and issubclass(item, BaseModel) else None


def bounds(field: FieldInfo) -> str:
    parts = []
    for item in field.metadata:
        if isinstance(item, Ge):
            parts.append(f"≥ {item.ge}")
        elif isinstance(item, Gt):
            parts.append(f"> {item.gt}")
        elif isinstance(item, Le):
            parts.append(f"≤ {item.le}")
        elif isinstance(item, Lt):
            parts.append(f"< {item.lt}")
    return ", ".join(parts)


def checks(section: str, key: str, field: FieldInfo, words: dict[str, Any] | None = None) -> str:
    parts = []
    if typing.get_origin(field.annotation) is typing.Literal:
        parts.append("une des valeurs listées")
    if bounds(field):
        parts.append(bounds(field))
    own = (words or french()[section][key]).get("check")
    if own:
        parts.append(own)
    if not parts:
        parts.append("le type")
    return " ; ".join(parts)


def default(field: FieldInfo) -> str:
    if field.is_required():
        return "requis"
    value = field.get_default(call_default_factory=True)
    if isinstance(value, SecretStr):
        return "vide"
    if value in (None, "", []):
        return "vide" if value != [] else "`[]`"
    return f"`{toml_value(value)}`"


def render() -> str:
    lines = [HEADER]
    for section, model in sections():
        lines.append(f"## [{section}]\n")
        lines.append("| clé | type | défaut | variable | vérifié au chargement |")
        lines.append("|---|---|---|---|---|")
        for key, field in model.model_fields.items():
            lines.append(
                f"| `{key}` | {kind(field.annotation)} | {default(field)} | "
                f"`{env_name(section, key)}` | {checks(section, key, field)} |"
            )
        lines.append("")
        for key, field in model.model_fields.items():
            text = french()[section][key]["text"]
            example = ""
            if table_model(field.annotation) is not None:
                example = (
                    f" Une table `[[{section}.{key}]]` par compte, ci-dessous (ou toute la liste "
                    f"en JSON dans `{env_name(section, key)}`)."
                )
            elif field.annotation is not SecretStr:
                example = f" Exemple : `{key} = {toml_value(field_example(model, key))}`."
            lines.append(f"- `{key}` : {text}{example}")
        lines.append("")
        for key, field in model.model_fields.items():
            table = table_model(field.annotation)
            if table is not None:
                lines.extend(render_tables(section, key, table))
    return "\n".join(lines).rstrip() + "\n"


def render_tables(section: str, key: str, table: type[BaseModel]) -> list[str]:
    """A list of tables (``[[matrix.senders]]``): each key of one table. No variable of its
    own: the tables are written in pixbot.toml (mode 640, secrets included)."""
    words = french()[section][key]["keys"]
    lines = [f"### [[{section}.{key}]]\n"]
    lines.append("| clé | type | défaut | vérifié au chargement |")
    lines.append("|---|---|---|---|")
    for name, field in table.model_fields.items():
        lines.append(
            f"| `{name}` | {kind(field.annotation)} | {default(field)} | "
            f"{checks(section, key, field, words[name])} |"
        )
    lines.append("")
    for name, field in table.model_fields.items():
        example = ""
        if field.annotation is not SecretStr:
            example = f" Exemple : `{name} = {toml_value(field_example(table, name))}`."
        lines.append(f"- `{name}` : {words[name]['text']}{example}")
    lines.append("")
    return lines


if __name__ == "__main__":
    sys.stdout.write(render())
