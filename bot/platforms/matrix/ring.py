"""Which account writes to whom: consistent hashing of people's ids onto the sender accounts.

Pure (no I/O). Each account owns :data:`VIRTUAL_NODES` points on a 64-bit ring, placed by a hash
of its Matrix id alone, and a person belongs to the account of the first point at or after the
hash of their id. The answer depends only on the set of accounts, not on their order in the
settings; adding an account moves only the people whose first point is now one of the new
account's (about 1/K of them), and removing one moves only that account's people.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Iterable

# Points per account: the busiest of K accounts then carries 1.0-1.2x the mean (docs/scaling.md).
VIRTUAL_NODES = 200


def _point(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "big")


class HashRing:
    def __init__(self, accounts: Iterable[str], virtual_nodes: int = VIRTUAL_NODES) -> None:
        self.accounts = tuple(dict.fromkeys(accounts))
        if not self.accounts:
            raise ValueError("a ring needs at least one account")
        points = sorted(
            (_point(f"{account}#{index}"), account)
            for account in self.accounts
            for index in range(virtual_nodes)
        )
        self._points = [point for point, _ in points]
        self._owners = [account for _, account in points]

    def account_for(self, person_id: str) -> str:
        """The account that writes to ``person_id``."""
        if len(self.accounts) == 1:
            return self.accounts[0]
        index = bisect.bisect_left(self._points, _point(person_id))
        return self._owners[index % len(self._owners)]
