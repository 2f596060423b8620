"""The bad-input corpus of issue 14 and its conservation checker.

``cases.py`` makes the malformed raw exports and spec folders (mutations of the bundled example
export cut to two subjects), ``packages.py`` the hostile packages for ``trialflow validate``,
``conservation.py`` counts raw rows and values against the run's lineage and findings,
``harness.py`` runs a case through the CLI and lists what went wrong, and ``test_corpus.py``
runs them all (cases that fail on main are xfail(strict=True) with the reason).
"""
