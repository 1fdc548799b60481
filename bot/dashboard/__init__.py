"""The campaign dashboard in the browser (issue #27): read-only pages on the bot's HTTP server,
opened with a one-time link the chat sends (``campagne tableau``).

:func:`bot.dashboard.wiring.attach` wires it into a running application: the link issuer into
the handlers' deps, the pages into the HTTP server. Same figures as the chat, from the same
functions (``docs/dashboard.md``).
"""
