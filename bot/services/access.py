"""What an ambassador may act on: the campaigns of their services (every service for an
admin), found by code, and the service a new campaign belongs to.

"Unknown" and "not yours" get the same answer, so nobody probes another service's codes or
names. The route converters of ``bot/handlers/arguments.py`` say what these return.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from bot.domain import Campaign, Person, Roles
from storage.uow import UnitOfWork


def scope(roles: Roles) -> list[str] | None:
    """The services ``roles`` may act on (None: all, for admins)."""
    return None if roles.is_admin else sorted(roles.services)


def campaign_named(uow: UnitOfWork, roles: Roles, code: str) -> Campaign | None:
    """The campaign ``code`` of one of the services ``roles`` may act on; None when there is
    none (unknown, or another service's)."""
    return uow.campaigns.by_code(code, scope(roles))


class ServiceOutcome(StrEnum):
    CHOSEN = "chosen"
    # The named service does not exist or is not one of the sender's (one answer for both).
    UNKNOWN = "unknown"
    # Nothing tells which of several services is meant.
    AMBIGUOUS = "ambiguous"
    FORBIDDEN = "forbidden"


@dataclass(frozen=True, slots=True)
class ServiceChoice:
    outcome: ServiceOutcome
    service: str | None = None
    # AMBIGUOUS: the services to choose from.
    services: list[str] = field(default_factory=list)


def service_for_new(
    uow: UnitOfWork, roles: Roles, person: Person, named: str | None
) -> ServiceChoice:
    """The service a new campaign belongs to: ``named`` (a service audience), else the
    sender's only service, else their own."""
    allowed = scope(roles)
    if named is not None:
        service = uow.services.canonical(named)
        if service is None or (allowed is not None and service not in allowed):
            return ServiceChoice(ServiceOutcome.UNKNOWN)
    elif allowed is not None and len(allowed) == 1:
        service = allowed[0]
    elif person.service and (allowed is None or person.service in allowed):
        service = person.service
    else:
        return ServiceChoice(ServiceOutcome.AMBIGUOUS, services=allowed or uow.services.all())
    if allowed is not None and service not in allowed:
        return ServiceChoice(ServiceOutcome.FORBIDDEN, service)
    return ServiceChoice(ServiceOutcome.CHOSEN, service)
