"""``python -m safeguarding``: the command line, for where the ``safeguarding`` script is not on
the path (a virtual environment that is not activated, a scheduler's bare interpreter)."""

from safeguarding.cli.main import main

main()
