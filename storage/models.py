"""SQLAlchemy 2 typed models. Schema changes go through Alembic migrations (storage/migrations).

What is stored is what the mission needs and nothing more: platform ids, display names, services,
participation states with timestamps. Never a score, a level or a result.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import (
    BigInteger,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite stores naive text otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class ServiceRow(Base):
    __tablename__ = "services"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)


class PersonRow(Base):
    __tablename__ = "people"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    platform_id: Mapped[str] = mapped_column(String(255), unique=True)
    display_name: Mapped[str | None] = mapped_column(String(200))
    service_id: Mapped[int | None] = mapped_column(ForeignKey("services.id"))
    # Only used to match a Pix Orga export's external-id column.
    email: Mapped[str | None] = mapped_column(String(255), index=True)
    # lower(trim(email)), indexed: the Pix Orga import matches on it in one query.
    email_norm: Mapped[str | None] = mapped_column(String(255), index=True)
    # The person's direct conversation once a platform opened it (a Slack DM channel id), so a
    # restart does not pay one rate-limited lookup per recipient again.
    direct_conversation: Mapped[str | None] = mapped_column(String(255))
    locale: Mapped[str | None] = mapped_column(String(10))
    timezone: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class RoleRow(Base):
    __tablename__ = "roles"
    __table_args__ = (UniqueConstraint("person_id", "role", "service_id", name="uq_roles_key"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(20))  # admin | ambassador
    service_id: Mapped[int | None] = mapped_column(ForeignKey("services.id"))


class CampaignRow(Base):
    __tablename__ = "campaigns"
    # Several services may run the same Pix code: a campaign is its service and its code.
    __table_args__ = (UniqueConstraint("service_id", "code", name="uq_campaigns_service_code"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(200))
    parcours: Mapped[str | None] = mapped_column(String(200))
    url: Mapped[str] = mapped_column(String(300))
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id"))
    start_date: Mapped[date | None] = mapped_column(Date)
    deadline: Mapped[date] = mapped_column(Date)
    event_name: Mapped[str | None] = mapped_column(String(200))
    event_date: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20))  # draft|scheduled|running|closed|cancelled
    audience_kind: Mapped[str] = mapped_column(String(20))  # service | room | list
    # service name | room id | "#12,#15": internal ids of the known agents a list kept
    audience_value: Mapped[str] = mapped_column(Text)
    reminders: Mapped[str | None] = mapped_column(String(200))  # "J-7,J-2,J-0"; None = default
    created_by: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class AudienceRow(Base):
    """People a campaign was resolved to at launch time (one row per person)."""

    __tablename__ = "audiences"
    __table_args__ = (UniqueConstraint("campaign_id", "person_id", name="uq_audiences_key"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    added_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ParticipationEventRow(Base):
    """Append-only: invited, started, completed, snoozed, opted_out, opted_out_all, resumed."""

    __tablename__ = "participation_events"
    __table_args__ = (
        Index("ix_participation_person_campaign", "person_id", "campaign_id"),
        # Per-campaign sets (who is invited, completions) and global events (campaign_id NULL).
        Index("ix_participation_campaign_kind", "campaign_id", "kind", "person_id"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))
    source: Mapped[str] = mapped_column(String(20))  # chat | reaction | orga | system
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class DeliveryRow(Base):
    """The outbox: one row per message to send, unique by its idempotency key."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("key", name="uq_deliveries_key"),
        # Due rows are read as two index ranges: conversation replies first, then the rest.
        Index("ix_deliveries_due", "status", "to_conversation", "next_attempt_at", "id"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(40))  # invitation | reminder:ID | reply | ...
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    recipient: Mapped[str] = mapped_column(String(255))  # platform person id or conversation id
    to_conversation: Mapped[bool] = mapped_column(default=False)
    # Cleared once sent: the outbox is not an archive of what people were told.
    body: Mapped[str | None] = mapped_column(Text)
    mentions: Mapped[str] = mapped_column(Text, default="")
    buttons: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(20))  # pending | sent | failed | cancelled
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    remote_id: Mapped[str | None] = mapped_column(String(255))
    last_error: Mapped[str | None] = mapped_column(String(500))
    batch: Mapped[str | None] = mapped_column(String(300), index=True)
    # What picture to render at send time ("chart:CAMPAIGN:DAY"); never the picture itself.
    attachment: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # When a dispatcher last read the row to send it: set means it may have gone out already.
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ReminderStepRow(Base):
    __tablename__ = "reminder_steps"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))  # launch | reminder | close | snooze
    label: Mapped[str] = mapped_column(String(40))
    day: Mapped[date] = mapped_column(Date)
    fire_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(20))  # planned | done | missed | cancelled
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ProcessedEventRow(Base):
    __tablename__ = "processed_events"
    platform: Mapped[str] = mapped_column(String(20), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    processed_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class AuditRow(Base):
    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(255))
    action: Mapped[str] = mapped_column(String(40))
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id", ondelete="SET NULL"))
    count: Mapped[int | None] = mapped_column(Integer)
    detail: Mapped[str | None] = mapped_column(String(500))


class PromptRow(Base):
    """A question the bot asked a person and whose answer it awaits (e.g. "oui" to confirm)."""

    __tablename__ = "prompts"
    person_id: Mapped[int] = mapped_column(
        ForeignKey("people.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(40))
    payload: Mapped[str] = mapped_column(Text, default="")
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())


class QuestionRow(Base):
    """FAQ questions: unanswered ones are kept without the asker; a handoff keeps the asker
    only because the agent agreed to pass the question on, and only until it is answered."""

    __tablename__ = "questions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    text: Mapped[str] = mapped_column(String(1000))
    service_id: Mapped[int | None] = mapped_column(ForeignKey("services.id"))
    asked_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    asker_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    # A keyed hash of who asked (key outside the database): the question goes with its asker's
    # erasure; never shown, and without the key file it names nobody.
    asker_digest: Mapped[str | None] = mapped_column(String(64), index=True)
    handed_off_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class LockRow(Base):
    __tablename__ = "locks"
    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    owner: Mapped[str] = mapped_column(String(100))
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Fencing token: incremented by every acquisition of the instance lock (storage/lock.py).
    epoch: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class ErasureRow(Base):
    """Tombstones: keyed hashes of erased ids and emails, so that a list or an import does not
    bring an erased person back. The hash cannot be reversed without the key."""

    __tablename__ = "erasures"
    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    erased_at: Mapped[datetime] = mapped_column(UTCDateTime())


class PrivacyKeyRow(Base):
    """The secret of the keyed hashes (pseudonyms, tombstones), generated once per database."""

    __tablename__ = "privacy_keys"
    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[str] = mapped_column(String(128))


class RetainedCountsRow(Base):
    """What is left of a campaign after the retention period: counts, never people."""

    __tablename__ = "retained_counts"
    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True
    )
    service: Mapped[str] = mapped_column(String(100), primary_key=True)
    invited: Mapped[int] = mapped_column(Integer, default=0)
    started: Mapped[int] = mapped_column(Integer, default=0)
    completed: Mapped[int] = mapped_column(Integer, default=0)
    opted_out: Mapped[int] = mapped_column(Integer, default=0)
    purged_at: Mapped[datetime] = mapped_column(UTCDateTime())


class QuotaRow(Base):
    """How much of a daily allowance a person used (hand-offs, stored questions)."""

    __tablename__ = "quotas"
    person_id: Mapped[int] = mapped_column(
        ForeignKey("people.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(20), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    count: Mapped[int] = mapped_column(Integer)


class StatsSnapshotRow(Base):
    """The figures shown for a campaign on one day, per service, as they were first computed
    that day: what an ambassador saw stays what they see until the next day's snapshot (an
    erasure or a late correction never rewrites a day already shown). Counts only: no person.
    The row with ``grp`` "" marks a snapshot taken (a campaign may have no audience yet)."""

    __tablename__ = "stats_snapshots"
    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    grp: Mapped[str] = mapped_column(String(100), primary_key=True)
    invited: Mapped[int] = mapped_column(Integer)
    started: Mapped[int] = mapped_column(Integer)
    completed: Mapped[int] = mapped_column(Integer)
    opted_out: Mapped[int] = mapped_column(Integer)


class PoolSnapshotRow(Base):
    """The campaigns pooled for the ministry's figures on one day (bot.stats.ministry), fixed
    the first time they are asked for that day: a campaign closed in the afternoon stays in
    the day's pool, so two readings of one day never differ by one campaign's figures.
    ``campaign_id`` 0 marks the pool taken (it may be empty). Ids only: no person, no count."""

    __tablename__ = "pool_snapshots"
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(Integer, primary_key=True)


class NoteOptOutRow(Base):
    """An ambassador who switched the morning note off (``note du matin arrêter``); the row
    goes with the person's erasure."""

    __tablename__ = "note_optouts"
    person_id: Mapped[int] = mapped_column(
        ForeignKey("people.id", ondelete="CASCADE"), primary_key=True
    )
    since: Mapped[datetime] = mapped_column(UTCDateTime())


class PixLinkRow(Base):
    """A campaign linked to its Pix campaign (found by code through Pix's organisation API) and
    where the sync of its participations stands. Nothing about any person."""

    __tablename__ = "pix_links"
    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True
    )
    pix_campaign_id: Mapped[int] = mapped_column(Integer)
    pix_organization_id: Mapped[int] = mapped_column(Integer)
    linked_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # When the last successful sync started to read: the next asks Pix for the changes since
    # then (minus [pix] overlap_minutes). Advanced in the same transaction as the events.
    synced_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_sync_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Participations matched by name only (no external id matched): counted for operators.
    matched_by_name: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_error: Mapped[str | None] = mapped_column(String(300))
    last_error_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class PixUnmatchedRow(Base):
    """Pix participations of a linked campaign that matched no agent of its audience, by Pix's
    participation number only (never an external id, a name or a result): operators see how
    many, and a later sync that matches one removes it."""

    __tablename__ = "pix_unmatched"
    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True
    )
    participation_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    reason: Mapped[str] = mapped_column(String(20))  # unknown | outside | ambiguous
