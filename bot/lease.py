"""The instance lock as the running bot sees it: standby until acquired, watched while held.

The lock is looked at in a thread: a database that hangs never freezes the event loop.

A second ``pixbot run`` on the same database waits here (role ``standby``) and takes over
within about :data:`POLL` seconds when the active process dies, even killed with SIGKILL (the
server or the kernel releases the lock with the process). While active, a watchdog checks the
lock every :data:`POLL` seconds: if it was lost (the database restarted and dropped the
advisory lock), sending stops at once and the lock is re-acquired before going on; if another
process took it meanwhile, this one steps down (:attr:`Lease.taken_over`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from storage.health import DatabaseHealth, is_transient
from storage.lock import InstanceLock, LeaseLost

log = logging.getLogger(__name__)

POLL = 1.0  # seconds between two looks at the lock (standby and watchdog)
# After taking over, wait this long before sending: a send the previous holder had in flight
# when it lost the lock finishes first (and the platform de-duplicates its key anyway).
TAKEOVER_GRACE = 2.0

__all__ = ["Lease", "LeaseLost"]


class Lease:
    def __init__(self, lock: InstanceLock, health: DatabaseHealth, *, poll: float = POLL) -> None:
        self.lock = lock
        self.health = health
        self.poll = poll
        self.held = asyncio.Event()
        self.taken_over = asyncio.Event()
        self.role = "standby"
        self._suspected = False

    @property
    def epoch(self) -> int | None:
        return self.lock.epoch

    def check(self) -> None:
        """Raise :class:`LeaseLost` unless this process holds the lock."""
        if not self.held.is_set():
            raise LeaseLost("the instance lock is not held")

    async def _try(self) -> bool:
        try:
            got = await asyncio.to_thread(self.lock.acquire)
        except Exception as error:
            if not is_transient(error):
                raise
            self.health.failed(error)
            return False
        self.health.succeeded()
        return got

    async def acquire(self, stopping: asyncio.Event) -> bool:
        """Wait for the lock (standby); False when stopped before getting it."""
        announced = False
        while not stopping.is_set():
            if await self._try():
                if announced:
                    log.warning("Verrou d'instance obtenu : ce pixbot prend le relais (actif)")
                    await _sleep_or_stop(stopping, TAKEOVER_GRACE)
                self._activate()
                return not stopping.is_set()
            if not announced and self.health.up:
                announced = True
                log.warning(
                    "Un autre pixbot est actif sur cette base : celui-ci attend en secours "
                    "(standby)"
                )
            await _sleep_or_stop(stopping, self.poll)
        return False

    def _activate(self) -> None:
        self.role = "active"
        self.held.set()

    async def watch(self, stopping: asyncio.Event) -> None:
        """While active: notice a lost lock at once, re-acquire it or step down."""
        while not stopping.is_set():
            await _sleep_or_stop(stopping, self.poll)
            if stopping.is_set():
                return
            if self.held.is_set() or self._suspected:
                self._suspected = False
                if await asyncio.to_thread(self.lock.alive):
                    self.held.set()
                    continue
                self.held.clear()
                log.warning(
                    "Verrou d'instance perdu (base redémarrée ?) : envois suspendus jusqu'à ce "
                    "qu'il soit repris"
                )
            if await self._try():
                log.warning(
                    "Verrou d'instance repris (époque %s) : les envois reprennent", self.epoch
                )
                self.held.set()
            elif self.health.up:
                log.warning("Un autre pixbot a pris le relais : arrêt de celui-ci")
                self.role = "standby"
                self.taken_over.set()
                return

    def suspect(self) -> None:
        """The database failed: pause until the watchdog has checked the lock is still ours
        (a restarted server forgot the advisory lock, and another process may take it)."""
        if self.held.is_set():
            self._suspected = True
            self.held.clear()

    def lost(self) -> None:
        """Another process's epoch was found: stop at once; the watchdog sorts it out."""
        if self.held.is_set():
            log.warning("L'époque du verrou d'instance a changé : les envois s'arrêtent")
        self.held.clear()
        self.lock.release()

    def release(self) -> None:
        self.held.clear()
        self.lock.release()


async def _sleep_or_stop(stopping: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stopping.wait(), timeout=seconds)
