"""Storage errors raised to the layers above."""

from __future__ import annotations


class StorageError(Exception):
    pass


class DuplicateError(StorageError):
    pass
