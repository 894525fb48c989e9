"""`python -m pausewatch.cli` runs the CLI."""

from pausewatch.cli import main

main()
