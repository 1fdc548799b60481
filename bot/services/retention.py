"""The retention policy (``[privacy] retention_days`` after a campaign ends), run daily by the
scheduler and on demand by ``pixbot purge [--dry-run]``."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from storage.repositories.retention import PurgeReport
from storage.uow import Store

log = logging.getLogger(__name__)


class _DryRun(Exception):
    """Undo the purge: only its report was wanted."""


def purge(store: Store, now: datetime, retention_days: int, *, dry_run: bool) -> PurgeReport:
    """Delete (or, for a dry run, count) what the retention policy no longer allows to keep.

    One transaction: either everything due goes, or nothing does.
    """
    cutoff = (now - timedelta(days=retention_days)).date()
    report = PurgeReport()
    try:
        with store.transaction() as uow:
            for campaign_id, code in uow.retention.expired(cutoff):
                report.campaigns.append(code)
                uow.retention.purge(campaign_id, now, report)
            # Replies and notices outside any campaign: who was told what, and when.
            uow.retention.purge_finished_deliveries(now - timedelta(days=retention_days), report)
            if dry_run:
                raise _DryRun
    except _DryRun:
        pass
    if report.campaigns and not dry_run:
        log.warning(
            "conservation : %d campagne(s) purgée(s) (%d personnes, %d envois, %d déclarations)",
            len(report.campaigns),
            report.people,
            report.deliveries,
            report.participation_events,
        )
    return report
