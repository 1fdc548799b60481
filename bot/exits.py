"""Every message the bot can write, classified by what it may tell about agents (issue #23).

Each template of ``bot/messages/<locale>/`` is listed here with its class and the variables it
reads; ``tests/privacy/test_exits.py`` enumerates the template files and fails on a template
missing from this table, or reading a variable not listed (a new number in a reply is a
decision to review, not a line to slip in). ``docs/privacy.md`` explains each class.
"""

from __future__ import annotations

import enum


class Exit(enum.StrEnum):
    # Read by an ambassador, an admin, a room or anyone, and carries no figure derived from
    # agents' states; its existence and wording do not depend on one agent's declaration.
    NO_FIGURE = "no agent-derived figure"
    # Carries figures derived from agents' states or from who is in an audience: each one is a
    # bot.privacy.Figure (disclose, audience_figure), from the stored daily snapshot.
    DISCLOSED = "figures through disclose"
    # Delivery outcomes of a batch (sent, failed): an invitation withheld ("stop tout") or
    # cancelled before it left ("fait", "stop") counts as handled, so no declaration moves them.
    DELIVERY = "delivery outcomes, declarations count as handled"
    # Names an agent to the ambassadors because that agent asked for it (FAQ hand-off).
    CONSENTED = "names an agent who asked to be named"
    # Read only by the agent it is about (their own state, their own data).
    AGENT_FACING = "agent-facing"
    # An administrator's CLI report on a file the administrator supplied (an import): its
    # figures count the file's own lines (and the lines a tombstone made the import skip).
    ADMIN_INPUT = "counts of the administrator's own file"


NO_FIGURE = Exit.NO_FIGURE
DISCLOSED = Exit.DISCLOSED
DELIVERY = Exit.DELIVERY
CONSENTED = Exit.CONSENTED
AGENT_FACING = Exit.AGENT_FACING
ADMIN_INPUT = Exit.ADMIN_INPUT

# template -> (class, the variables it reads)
TEMPLATES: dict[str, tuple[Exit, tuple[str, ...]]] = {
    "_figure": (DISCLOSED, ()),
    "_help": (NO_FIGURE, ("snooze_days",)),
    "_nothing": (NO_FIGURE, ("editing",)),
    "_plan": (NO_FIGURE, ("no_header", "plan")),
    "_sending": (NO_FIGURE, ()),
    "_stats": (DISCLOSED, ()),
    "_zone": (NO_FIGURE, ("city",)),
    "agent_buttons": (AGENT_FACING, ()),
    "batch_progress": (DELIVERY, ("campaign", "exact", "failed", "sent", "total")),
    "batch_summary": (
        DELIVERY,
        ("action", "campaign", "exact", "failed", "failures", "more_failures", "sent", "total"),
    ),
    "campaign_cancel_aborted": (NO_FIGURE, ("code",)),
    "campaign_cancel_confirm": (NO_FIGURE, ("campaign",)),
    "campaign_cancelled": (NO_FIGURE, ("campaign",)),
    "campaign_close_aborted": (NO_FIGURE, ("code",)),
    "campaign_close_confirm": (NO_FIGURE, ("campaign", "thank")),
    "campaign_closed": (DISCLOSED, ("campaign", "stats", "thank")),
    "campaign_closed_auto": (DISCLOSED, ("campaign", "stats", "thank")),
    "campaign_created": (
        DISCLOSED,
        ("campaign", "holiday", "plan", "rejected", "size", "warnings"),
    ),
    "campaign_deadline_moved": (AGENT_FACING, ("campaign", "closes_at", "zone")),
    "campaign_edited": (
        NO_FIGURE,
        ("before", "campaign", "closes_at", "earlier", "request", "steps"),
    ),
    "campaign_launch_planned": (NO_FIGURE, ("campaign", "when")),
    "campaign_launched": (DISCLOSED, ("campaign", "fresh", "rejected", "result")),
    "campaign_list": (DISCLOSED, ("min_group", "rows")),
    "campaign_remind_already": (NO_FIGURE, ("campaign", "day")),
    "campaign_reminded": (NO_FIGURE, ("campaign", "queued_until")),
    "campaign_replanned": (NO_FIGURE, ("campaign", "dropped", "none_left", "steps")),
    "campaign_show": (DISCLOSED, ("campaign", "pix", "stats", "steps")),
    "campaign_stats": (DISCLOSED, ("campaign", "stats", "steps")),
    "campaign_status_cancelled": (NO_FIGURE, ()),
    "campaign_status_closed": (NO_FIGURE, ()),
    "campaign_status_draft": (NO_FIGURE, ()),
    "campaign_status_running": (NO_FIGURE, ()),
    "campaign_status_scheduled": (NO_FIGURE, ()),
    "chart_alt": (DISCLOSED, ("campaign", "stats")),
    "chart_labels": (DISCLOSED, ("campaign", "hidden", "stats")),
    "cli_agents_imported": (ADMIN_INPUT, ("created", "skipped", "updated")),
    "cli_orga_imported": (
        ADMIN_INPUT,
        ("completed", "duplicates", "lines", "started", "unchanged", "unmatched"),
    ),
    "code_alone": (NO_FIGURE, ("code", "is_ambassador")),
    "dashboard_link": (NO_FIGURE, ("code", "url")),
    "dashboard_link_in_dm": (NO_FIGURE, ()),
    "dashboard_off": (NO_FIGURE, ()),
    "demo_intro": (
        NO_FIGURE,
        (
            "agents",
            "days",
            "deadline",
            "folder",
            "history",
            "now",
            "scripted",
            "service",
            "services",
        ),
    ),
    "digest": (DISCLOSED, ("min_group", "rows", "service")),
    "error": (NO_FIGURE, ()),
    "error_audience_missing": (NO_FIGURE, ()),
    "error_campaign_exists": (NO_FIGURE, ("code",)),
    "error_campaign_finished": (NO_FIGURE, ("campaign",)),
    "error_campaign_not_running": (NO_FIGURE, ("campaign",)),
    "error_campaign_unknown": (NO_FIGURE, ("code",)),
    "error_code_invalid": (NO_FIGURE, ("code",)),
    "error_code_missing": (NO_FIGURE, ()),
    "error_date_ambiguous": (NO_FIGURE, ("value",)),
    "error_date_invalid": (NO_FIGURE, ("value",)),
    "error_date_missing": (NO_FIGURE, ()),
    "error_date_past": (NO_FIGURE, ("value",)),
    "error_date_too_far": (NO_FIGURE, ("horizon", "value")),
    "error_date_weekday": (NO_FIGURE, ("day", "value")),
    "error_deadline_missing": (NO_FIGURE, ()),
    "error_edit_missing": (NO_FIGURE, ("code",)),
    "error_edit_unexpected": (NO_FIGURE, ("word",)),
    "error_event_after_deadline": (NO_FIGURE, ("deadline", "event")),
    "error_event_name_missing": (NO_FIGURE, ()),
    "error_ids_invalid": (NO_FIGURE, ("ids",)),
    "error_offsets_invalid": (NO_FIGURE, ("value",)),
    "error_offsets_too_many": (NO_FIGURE, ("limit",)),
    "error_plan_impossible": (NO_FIGURE, ("deadline",)),
    "error_repeated": (NO_FIGURE, ("word",)),
    "error_room_invalid": (NO_FIGURE, ("room",)),
    "error_room_unknown": (NO_FIGURE, ("room",)),
    "error_scheduler_off": (NO_FIGURE, ()),
    "error_service_ambiguous": (NO_FIGURE, ("services",)),
    "error_service_forbidden": (NO_FIGURE, ("service",)),
    "error_service_unknown": (NO_FIGURE, ("service",)),
    "error_title_missing": (NO_FIGURE, ()),
    "error_title_too_long": (NO_FIGURE, ("limit",)),
    "error_unclosed_quote": (NO_FIGURE, ()),
    "error_unexpected": (NO_FIGURE, ("word",)),
    "event_completed": (AGENT_FACING, ()),
    "event_invited": (AGENT_FACING, ()),
    "event_opted_out": (AGENT_FACING, ()),
    "event_opted_out_all": (AGENT_FACING, ()),
    "event_resumed": (AGENT_FACING, ()),
    "event_snoozed": (AGENT_FACING, ()),
    "event_started": (AGENT_FACING, ()),
    "faq_answer": (AGENT_FACING, ("answer", "in_dm", "mine", "more", "see_also")),
    "faq_handed_off": (AGENT_FACING, ("ambassadors",)),
    "faq_handoff_declined": (AGENT_FACING, ()),
    "faq_handoff_impossible": (AGENT_FACING, ()),
    "faq_handoff_limit": (AGENT_FACING, ("limit",)),
    "faq_handoff_to_ambassador": (CONSENTED, ("asker", "question")),
    "faq_reply_already": (NO_FIGURE, ("number",)),
    "faq_reply_sent": (NO_FIGURE, ("number",)),
    "faq_reply_to_agent": (AGENT_FACING, ("ambassador", "answer", "question")),
    "faq_reply_unknown": (NO_FIGURE, ("number",)),
    "faq_reply_usage": (NO_FIGURE, ()),
    "faq_resend_declined": (AGENT_FACING, ()),
    "faq_resent": (AGENT_FACING, ("campaigns",)),
    "faq_unknown": (AGENT_FACING, ("answer", "can_hand_off")),
    "forget_cancelled": (AGENT_FACING, ()),
    "forget_confirm": (AGENT_FACING, ("has_roles",)),
    "forget_confirm_in_dm": (AGENT_FACING, ()),
    "forget_done": (AGENT_FACING, ()),
    # Its lines (``_help``, imported with the context) read ``snooze_days``.
    "help": (NO_FIGURE, ("console", "name", "person_id", "role", "sections", "services")),
    "invitation": (AGENT_FACING, ("campaign", "closes_at", "person", "zone")),
    "message_kind": (AGENT_FACING, ("m",)),
    "my_data": (
        AGENT_FACING,
        (
            "campaigns",
            "events",
            "locale",
            "messages",
            "note_off",
            "opted_out_all",
            "person",
            "planned",
            "questions",
            "roles",
            "zone",
        ),
    ),
    "my_data_in_dm": (AGENT_FACING, ()),
    "morning_note": (DISCLOSED, ("as_of", "min_group", "rows")),
    "morning_note_state": (NO_FIGURE, ("deployment", "on", "unknown")),
    "morning_note_switched": (NO_FIGURE, ("changed", "deployment", "on")),
    "not_allowed": (NO_FIGURE, ("console", "person_id")),
    "not_expecting": (NO_FIGURE, ("asked", "elsewhere")),
    "participation_already_done": (AGENT_FACING, ("campaign",)),
    "participation_already_started": (AGENT_FACING, ("campaign", "status")),
    "participation_already_stopped": (AGENT_FACING, ("campaign",)),
    "participation_already_stopped_all": (AGENT_FACING, ()),
    "participation_done": (AGENT_FACING, ("campaign",)),
    "participation_later": (AGENT_FACING, ("campaign", "tz", "when")),
    "participation_no_campaign": (AGENT_FACING, ()),
    "participation_nothing_to_do": (AGENT_FACING, ("campaigns",)),
    "participation_resumed": (AGENT_FACING, ("campaign",)),
    "participation_resumed_all": (AGENT_FACING, ()),
    "participation_started": (AGENT_FACING, ("campaign",)),
    "participation_stopped": (AGENT_FACING, ("campaign",)),
    "participation_stopped_all": (AGENT_FACING, ()),
    "participation_unknown_code": (AGENT_FACING, ("campaigns", "code")),
    "participation_which": (AGENT_FACING, ("campaigns",)),
    "rate_limited": (NO_FIGURE, ("limit",)),
    "reminder": (AGENT_FACING, ("campaign", "closes_at", "started", "zone")),
    "sender_moved": (AGENT_FACING, ("account",)),
    "status_completed": (AGENT_FACING, ()),
    "status_invited": (AGENT_FACING, ()),
    "status_not_invited": (AGENT_FACING, ()),
    "status_opted_out": (AGENT_FACING, ()),
    "status_started": (AGENT_FACING, ()),
    "step_missed": (NO_FIGURE, ("campaign",)),
    "step_name": (NO_FIGURE, ("step",)),
    "step_status": (NO_FIGURE, ("step",)),
    "thanks": (AGENT_FACING, ("campaign",)),
    "too_long": (NO_FIGURE, ("limit",)),
    "undecryptable": (NO_FIGURE, ()),
    "unknown": (NO_FIGURE, ()),
    "unknown_command": (NO_FIGURE, ("is_ambassador",)),
    "you_are_welcome": (NO_FIGURE, ()),
}
