"""The message templates: both locales have the same files, parse, and render sensibly."""

from __future__ import annotations

import enum
from datetime import UTC, date, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from jinja2 import Environment, meta, nodes

from bot.handlers import build_router
from bot.privacy import audience_figure
from bot.render import LOCALES, Renderer

MESSAGES = Path(__file__).resolve().parents[2] / "bot" / "messages"


def _names(locale: str) -> set[str]:
    return {path.name for path in (MESSAGES / locale).glob("*.txt")}


FR_NAMES = sorted(_names("fr"))


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer()


def _ast(renderer: Renderer, locale: str, name: str) -> nodes.Template:
    env: Environment = renderer._envs[locale]
    assert env.loader is not None
    source = env.loader.get_source(env, name)[0]
    return env.parse(source)


class Status(enum.Enum):
    DRAFT = "draft"
    RUNNING = "running"
    CANCELLED = "cancelled"


class Kind(enum.Enum):
    COMPLETED = "completed"
    SNOOZED = "snoozed"


def _campaign(**overrides: Any) -> SimpleNamespace:
    values: dict[str, Any] = {
        "code": "ABCDEF234",
        "title": "Cyber",
        "url": "https://app.pix.fr/campagnes/ABCDEF234",
        "service": "DNUM",
        "parcours": None,
        "event_name": None,
        "event_date": None,
        "deadline": date(2026, 12, 15),
        "audience_kind": "list",
        "audience_value": "@a:example.org",
        "status": Status.RUNNING,
    }
    values.update(overrides)
    return SimpleNamespace(**values)


def _group(invited: int, started: int, completed: int, opted_out: int) -> Any:
    from bot.stats import Counts, GroupStats

    return GroupStats("g", Counts(invited, started, completed, opted_out), False, 5)


def _stats() -> SimpleNamespace:
    from dataclasses import replace

    service = replace(_group(10, 4, 3, 1), name="DNUM")
    hidden = SimpleNamespace(hidden=True, counts=None, name="SG")
    return SimpleNamespace(
        total=_group(12, 5, 4, 1),
        min_group=5,
        services=[service, hidden],
        as_of=None,
        next_at=None,
        before_launch=False,
    )


# --- structure ------------------------------------------------------------------------------


def test_french_templates_exist() -> None:
    assert "help.txt" in FR_NAMES
    assert len(FR_NAMES) > 50


def test_same_file_names_in_every_locale() -> None:
    for locale in LOCALES:
        assert _names(locale) == set(FR_NAMES), locale


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("name", FR_NAMES)
def test_template_parses(renderer: Renderer, locale: str, name: str) -> None:
    assert isinstance(_ast(renderer, locale, name), nodes.Template)
    assert renderer._envs[locale].get_template(name).name == name


@pytest.mark.parametrize("name", FR_NAMES)
def test_english_needs_no_other_variable(renderer: Renderer, name: str) -> None:
    env_fr, env_en = renderer._envs["fr"], renderer._envs["en"]
    fr_vars = meta.find_undeclared_variables(_ast(renderer, "fr", name))
    en_vars = meta.find_undeclared_variables(_ast(renderer, "en", name))
    assert en_vars <= fr_vars, (name, en_vars - fr_vars)
    assert env_fr is not env_en


def _shape(tree: nodes.Template) -> dict[str, Any]:
    """What the code and sibling templates rely on: filters, includes, imports, macros."""
    return {
        "filters": {f.name for f in tree.find_all(nodes.Filter)},
        "includes": {repr(i.template) for i in tree.find_all(nodes.Include)},
        "imports": {(i.template.value, i.target) for i in tree.find_all(nodes.Import)},
        "macros": {(m.name, tuple(a.name for a in m.args)) for m in tree.find_all(nodes.Macro)},
        "with": {tuple(t.name for t in w.targets) for w in tree.find_all(nodes.With)},
        "calls": {
            repr(c.node) for c in tree.find_all(nodes.Call) if isinstance(c.node, nodes.Getattr)
        },
    }


@pytest.mark.parametrize("name", FR_NAMES)
def test_english_keeps_the_jinja_shape(renderer: Renderer, name: str) -> None:
    assert _shape(_ast(renderer, "en", name)) == _shape(_ast(renderer, "fr", name))


@pytest.mark.parametrize("name", FR_NAMES)
def test_trailing_newline_matches(name: str) -> None:
    fr = (MESSAGES / "fr" / name).read_bytes()
    en = (MESSAGES / "en" / name).read_bytes()
    assert fr.endswith(b"\n") == en.endswith(b"\n")
    assert en.strip()


# --- rendering ------------------------------------------------------------------------------


def test_help_for_an_agent(renderer: Renderer) -> None:
    variables = {"role": "agent", "services": [], "name": "Alice", "snooze_days": 3}
    variables["sections"] = build_router().help_for("agent")
    en = renderer.render("help", "en", **variables)
    fr = renderer.render("help", "fr", **variables)
    assert "Alice" in en and "Alice" in fr
    assert '"help"' in en and '"done"' in en and '"stop all"' in en
    assert "« aide »" in fr and "« c'est fait »" in fr
    assert "dans 3 jours ouvrés" in fr and "in 3 working days" in en
    assert "Ambassadors" not in en and "campaign create" not in en
    assert "Ambassadeurs" not in fr and "campagne créer" not in fr
    assert "Administration" not in en and "Administration" not in fr


def test_aide_says_what_the_routes_declare() -> None:
    """`aide` is generated from the registrations: each line a route (or the FAQ fallback)
    declares has its wording in every locale, and no wording is left without a route."""
    router = build_router()
    declared = {line.key for line, _ in router.help_lines}
    for locale in LOCALES:
        source = (MESSAGES / locale / "_help.txt").read_text(encoding="utf-8")
        macros = {macro.name for macro in Environment().parse(source).find_all(nodes.Macro)}
        assert macros == declared, locale
    # What a role sees follows the route's roles: agents get no ambassador command.
    assert router.help_for("agent")["ambassador"] == []
    assert "launch" in router.help_for("ambassador")["ambassador"]


def test_help_for_an_admin(renderer: Renderer) -> None:
    variables = {"role": "admin", "services": ["DNUM", "SG"], "name": "Bob", "snooze_days": 2}
    variables["sections"] = build_router().help_for("admin")
    en = renderer.render("help", "en", **variables)
    fr = renderer.render("help", "fr", **variables)
    assert "Ambassadors (DNUM, SG):" in en and "campaign create CODE" in en
    assert "Ambassadeurs (DNUM, SG) :" in fr and "campagne créer CODE" in fr
    assert "Administration:" in en and "Administration :" in fr
    assert "\n\nAmbassadors" in en and "\n\nAdministration" in en


def test_error_date_invalid(renderer: Renderer) -> None:
    en = renderer.render("error_date_invalid", "en", value="32/13/2026")
    fr = renderer.render("error_date_invalid", "fr", value="32/13/2026")
    assert '"32/13/2026"' in en and "DD/MM/YYYY" in en and "Nothing was created" in en
    assert "« 32/13/2026 »" in fr and "JJ/MM/AAAA" in fr


def test_participation_done(renderer: Renderer) -> None:
    campaign = SimpleNamespace(code="ABCDEF234", title="Cyber")
    en = renderer.render("participation_done", "en", campaign=campaign)
    fr = renderer.render("participation_done", "fr", campaign=campaign)
    assert '"Cyber"' in en and "ABCDEF234" in en and "thank you" in en
    assert "« Cyber »" in fr and "ABCDEF234" in fr and "merci" in fr


def test_hostile_variables_are_not_evaluated(renderer: Renderer) -> None:
    campaign = SimpleNamespace(code="ABCDEF234", title="{{ 7*7 }}{% if true %}x{% endif %}")
    for locale in LOCALES:
        text = renderer.render("participation_done", locale, campaign=campaign)
        assert "{{ 7*7 }}{% if true %}x{% endif %}" in text
        assert "49" not in text


def test_cancelling_counts_no_pending_message(renderer: Renderer) -> None:
    # #23: how many messages were pending moves with one agent's answer: no number.
    en = renderer.render("campaign_cancelled", "en", campaign=_campaign())
    fr = renderer.render("campaign_cancelled", "fr", campaign=_campaign())
    assert en == "Campaign ABCDEF234 cancelled; pending messages are dropped."
    assert fr == "Campagne ABCDEF234 annulée ; les messages en attente sont abandonnés."


def test_status_include(renderer: Renderer) -> None:
    campaign = _campaign(status=Status.CANCELLED)
    en = renderer.render("error_campaign_finished", "en", campaign=campaign)
    fr = renderer.render("error_campaign_finished", "fr", campaign=campaign)
    assert en == "Campaign ABCDEF234 is cancelled: nothing was changed."
    assert fr == "La campagne ABCDEF234 est annulée : rien n'a été modifié."


def test_day_and_moment_filters_are_localised(renderer: Renderer) -> None:
    when = datetime(2026, 12, 21, 8, 30, tzinfo=UTC)
    variables = {"campaign": _campaign(), "when": when, "tz": None}
    en = renderer.render("participation_later", "en", **variables)
    fr = renderer.render("participation_later", "fr", **variables)
    assert "Monday, December 21, 2026 at 09:30" in en
    assert "lundi 21 décembre 2026 à 09:30" in fr
    en = renderer.render("error_date_past", "en", value=date(2026, 1, 2))
    assert en.startswith("The date January 2, 2026 has already passed: give a date to come")
    assert en.endswith("Nothing was created.")


def test_campaign_show_renders_in_both_locales(renderer: Renderer) -> None:
    step = SimpleNamespace(
        when=datetime(2026, 12, 1, 8, 0, tzinfo=UTC),
        kind="reminder",
        label="J-7",
        status="planned",
    )
    variables = {
        "campaign": _campaign(parcours="Bases", event_name="Forum", event_date=date(2026, 12, 10)),
        "steps": [step],
        "stats": _stats(),
    }
    en = renderer.render("campaign_show", "en", **variables)
    fr = renderer.render("campaign_show", "fr", **variables)
    assert 'Campaign ABCDEF234 "Cyber" — running' in en
    assert "list of ids (how many are invited: see the figures below)" in en
    assert (
        "Schedule:\n• Tuesday, December 1, 2026 at 09:00: reminder J-7 (planned)\nParticipation:"
        in en
    )
    assert "• overall: 12 invited · 5 in progress (42%)" in en
    assert "• SG: fewer than 5 people: figures hidden for privacy" in en
    assert "Campagne ABCDEF234 « Cyber » — en cours" in fr
    assert "• ensemble : 12 invités" in fr
    assert fr.count("\n") == en.count("\n")


def test_my_data_renders_in_both_locales(renderer: Renderer) -> None:
    person = SimpleNamespace(
        platform_id="@alice:example.org",
        display_name=None,
        service="DNUM",
        timezone=None,
        email=None,
        locale=None,
        created_at=datetime(2026, 11, 1, 8, 0, tzinfo=UTC),
    )
    event = SimpleNamespace(
        at=datetime(2026, 12, 1, 8, 0, tzinfo=UTC),
        kind=Kind.SNOOZED,
        campaign_code="ABCDEF234",
        source="chat",
    )
    variables = {
        "person": person,
        "roles": SimpleNamespace(is_admin=False, services=[]),
        "opted_out_all": True,
        "note_off": None,
        "questions": [],
        "campaigns": [SimpleNamespace(code="ABCDEF234", title="Cyber", status="completed")],
        "events": [event],
        "planned": [],
        "messages": [],
        "locale": "fr",
    }
    en = renderer.render("my_data", "en", **variables)
    fr = renderer.render("my_data", "fr", **variables)
    assert "• display name: (none)" in en
    assert '• ABCDEF234 "Cyber": completed' in en
    assert '"later" (ABCDEF234)' in en
    assert '"resume"' in en and '"forget me"' in en
    assert "• ABCDEF234 « Cyber » : terminé" in fr
    assert fr.count("\n") == en.count("\n")


def test_campaign_launched_counts_only_who_joined_in_words_under_the_threshold(
    renderer: Renderer,
) -> None:
    # #9, #23: the launch reply counts who joined the audience now (never who said "stop
    # tout", nor who was already invited), under the threshold in words.
    en = renderer.render(
        "campaign_launched",
        "en",
        campaign=_campaign(audience_kind="room", audience_value="#r:x"),
        result=SimpleNamespace(queued_until=None, staggered=False),
        fresh=audience_figure(12, 5),
        rejected=audience_figure(0, 5),
    )
    assert "invitations being sent to 12 people;" in en
    assert "Room members not kept: fewer than 5" in en
    fr = renderer.render(
        "campaign_launched",
        "fr",
        campaign=_campaign(),
        result=SimpleNamespace(queued_until=None, staggered=False),
        fresh=audience_figure(1, 5),
        rejected=None,
    )
    assert "aux nouvelles personnes du public, s'il y en a (moins de 5)" in fr
    assert "salon" not in fr


def test_digest_and_auto_close_render_in_both_locales(renderer: Renderer) -> None:
    row = SimpleNamespace(campaign=_campaign(), total=_group(4, 2, 1, 0))
    digest = {"service": "DNUM", "rows": [row], "min_group": 5}
    en = renderer.render("digest", "en", **digest)
    fr = renderer.render("digest", "fr", **digest)
    assert en.startswith("Weekly update on the Pix campaigns of the DNUM service:\n")
    assert '• ABCDEF234 "Cyber", ends on December 15, 2026 — 4 invited' in en
    assert "fin le 15 décembre 2026 — 4 invités" in fr
    closed = {"campaign": _campaign(), "thank": True, "stats": _stats()}
    en = renderer.render("campaign_closed_auto", "en", **closed)
    fr = renderer.render("campaign_closed_auto", "fr", **closed)
    assert "completed it, if any.\nSummary:\n• overall:" in en
    assert "ont terminé, s'il y en a.\nBilan :\n• ensemble :" in fr


def test_replanned_has_no_second_header(renderer: Renderer) -> None:
    step = SimpleNamespace(
        when=datetime(2026, 12, 1, 8, 0, tzinfo=UTC),
        kind="reminder",
        label="J-7",
        status="missed",
    )
    en = renderer.render("campaign_replanned", "en", campaign=_campaign(), steps=[step])
    fr = renderer.render("campaign_replanned", "fr", campaign=_campaign(), steps=[step])
    assert en.startswith("New schedule for ABCDEF234 (Paris time;")
    assert en.endswith(
        ":\n• Tuesday, December 1, 2026 at 09:00: reminder J-7 (missed: the bot was stopped)"
    )
    assert "Schedule:" not in en and "Calendrier :" not in fr
    assert fr.count("\n") == en.count("\n") == 1
