"""``python -m medwarden.cli``: the same as the ``medwarden`` console script."""

from medwarden.cli.app import main

main()
