"""``python -m bot.cli``: the same as the ``pixbot`` console script."""

from bot.cli import main

main()
