"""``campagne tableau [CODE]``: a one-time link to the dashboard, always in a direct message."""

from __future__ import annotations

from bot.handlers.arguments import any_campaign
from bot.router import AMBASSADORS, Context, HelpLine, Router

router = Router()


@router.command(
    "campagne tableau",
    "campaign dashboard",
    roles=AMBASSADORS,
    help=HelpLine("ambassador", "dashboard"),
    audit="dashboard_link",
)
def dashboard(ctx: Context, args: str) -> None:
    links = ctx.deps.dashboard
    if links is None:
        ctx.say("dashboard_off")
        return
    code = campaign_id = None
    if args.strip():
        # Same answer for "unknown" and "not yours", as every campaign command.
        found = any_campaign(ctx, args)
        if found is None:
            return
        code, campaign_id = found.campaign.code, found.campaign.id
    url = links.issue(ctx.person.id, ctx.roles.name, ctx.now, code)
    # The link is a credential: it goes to the person's direct conversation only.
    ctx.notify(
        ctx.person,
        "dashboard_link",
        f"dash:{ctx.incoming.platform}:{ctx.incoming.event_id}",
        kind="dashboard_link",
        url=url,
        code=code,
    )
    ctx.audit(campaign_id)
    if not ctx.incoming.is_direct:
        ctx.say("dashboard_link_in_dm")
