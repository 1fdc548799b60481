"""pixbot's test suite.

The operator's language follows the locale (bot/translation.py): the suite asserts pixbot's
default, French, whatever the developer's locale, and asks for English explicitly. Set here,
before anything imports bot.cli (which reads the locale once); every pixbot process that a test
starts inherits it.
"""

import os

for _name in ("LC_ALL", "LC_MESSAGES"):
    os.environ.pop(_name, None)
os.environ["LANG"] = "C.UTF-8"
