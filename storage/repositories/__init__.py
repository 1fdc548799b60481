"""Repositories: the only place that builds SQL. They return the plain dataclasses of
:mod:`bot.domain`; a :class:`storage.uow.UnitOfWork` groups them by area."""
