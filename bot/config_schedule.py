"""The ``[schedule]`` settings: when messages leave and what the reminder plans look like
(docs/settings.md § [schedule]); each value checked when the configuration loads."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

from bot.translation import gettext as _
from scheduler.calendar import parse_holidays, parse_working_days, parse_working_hours

_OFFSET = re.compile(r"^[JjDd]-\d{1,3}$")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ScheduleSection(_Section):
    working_hours: str = Field(
        default="09:30-17:00",
        description="When invitations and reminders leave, in each agent's time zone.",
        examples=["09:00-12:00"],
    )
    working_days: str = Field(
        default="mon-fri",
        description="Days messages leave: ranges and lists of mon…sun or lun…dim.",
        examples=["mon-thu", "lun,mar,jeu"],
    )
    holidays: str = Field(
        default="FR",
        description="Public holidays without messages: a country, optionally with a "
        "subdivision (FR-57 Moselle, FR-974 La Réunion); empty or none for none.",
        examples=["FR-57"],
    )
    reminders: list[str] = Field(
        default_factory=lambda: ["J-7", "J-2", "J-0"],
        description="Reminders before the deadline.",
    )
    event_launch: str = Field(
        default="J-15", description="When a campaign linked to an event is launched."
    )
    event_reminders: list[str] = Field(
        default_factory=lambda: ["J-7", "J-1"], description="Reminders before the event."
    )
    snooze_working_days: int = Field(
        default=2,
        ge=1,
        le=30,
        description="An agent who says « plus tard » is reminded this many working days later.",
    )
    thank_completers: bool = Field(
        default=True, description="Thank an agent who declares the parcours completed."
    )
    digest: str = Field(
        default="",
        description="Weekly digest to ambassadors (day and time); empty: none.",
        examples=["mon 09:30"],
    )
    morning_note: bool = Field(
        default=True,
        description="Each working morning, a short note to each ambassador of a running "
        "campaign with the day's figures (from the daily snapshot, same confidentiality rule); "
        "each ambassador can switch it off (« note du matin arrêter »); false: none.",
    )

    @field_validator("working_hours")
    @classmethod
    def _hours(cls, value: str) -> str:
        match = re.fullmatch(r"(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})", value.strip())
        if not match:
            raise ValueError(_("plage horaire attendue, HH:MM-HH:MM"))
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        if not (0 <= h1 < 24 and 0 <= h2 < 24 and m1 < 60 and m2 < 60) or (h1, m1) >= (h2, m2):
            raise ValueError(_("le début doit précéder la fin, les deux dans la journée"))
        parse_working_hours(value.strip())
        return value.strip()

    @field_validator("working_days")
    @classmethod
    def _days(cls, value: str) -> str:
        try:
            parse_working_days(value)
        except ValueError:
            raise ValueError(
                _(
                    "jours attendus : mon…sun ou lun…dim, en plages (mon-fri) ou en liste "
                    "(mon,tue,thu)"
                )
            ) from None
        return value.strip()

    @field_validator("holidays")
    @classmethod
    def _holidays(cls, value: str) -> str:
        try:
            parse_holidays(value)
        except ValueError:
            country = value.strip().partition("-")[0].upper()
            try:
                parse_holidays(country)
            except ValueError:
                raise ValueError(
                    _("pays inconnu : code ISO à deux lettres (FR), ou none pour aucun")
                ) from None
            raise ValueError(
                _("subdivision inconnue pour {country} (FR-57, FR-974…)", country=country)
            ) from None
        return value.strip()

    @field_validator("digest")
    @classmethod
    def _digest(cls, value: str) -> str:
        value = value.strip().lower()
        if value and not re.fullmatch(
            r"(mon|tue|wed|thu|fri|sat|sun) ([01]?\d|2[0-3]):[0-5]\d", value
        ):
            raise ValueError(_('jour (mon…sun) et heure attendus, ou "" pour aucun'))
        return value

    @field_validator("event_launch")
    @classmethod
    def _offset(cls, value: str) -> str:
        if not _OFFSET.match(value.strip()):
            raise ValueError(_("décalage attendu, J- suivi d'un nombre de jours"))
        return value.strip()

    @field_validator("reminders", "event_reminders")
    @classmethod
    def _offsets(cls, value: list[str]) -> list[str]:
        for item in value:
            if not _OFFSET.match(item.strip()):
                raise ValueError(_("décalages attendus comme J-7, pas {value}", value=repr(item)))
        return [item.strip() for item in value]
