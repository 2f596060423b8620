"""``python -m trialflow ...`` runs the command line, as the ``trialflow`` script does."""

from trialflow.cli import main

if __name__ == "__main__":  # pragma: no cover - exercised through a subprocess in tests
    main()
