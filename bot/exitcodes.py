"""What ``pixbot``'s exit codes mean (deploy/pixbot.service and docs/deploy-tchap.md § 3 use them).

A service manager restarts pixbot after any code except those that need a person first
(``NEEDS_A_PERSON``: ``RestartPreventExitStatus=`` in the unit).
"""

from __future__ import annotations

OK = 0  # stopped on request (SIGTERM, end of the console's input)
FAILURE = 1  # an unexpected error: restarting is worth it
BAD_SETTINGS = 2  # the configuration, the command line or the database needs fixing
LOGIN_REFUSED = 4  # the platform refused the bot's account (password, token, account expired)
TAKEN_OVER = 75  # another process took the instance lock over: restarting makes this a standby
NEEDS_OPERATOR = 78  # the Matrix device must be healed by a person (docs/tchap.md § 8)

NEEDS_A_PERSON = (BAD_SETTINGS, LOGIN_REFUSED, NEEDS_OPERATOR)
