"""`python -m contract_tests` and the `xentree-contract` script.

Hypothesis runs every function registered under its `hypothesis` entry point when it is imported. Those plugins
register strategies for their own types (trio's, here installed with Selenium, also imports trio and pytest: a
fifth of a short run's start-up), and the suite generates from JSON Schema alone, so a command-line run leaves
them out (`HYPOTHESIS_NO_PLUGINS`, unless the environment sets it already). The pytest plugin is not affected.
"""

from __future__ import annotations

import os


def main() -> int:
    os.environ.setdefault("HYPOTHESIS_NO_PLUGINS", "1")
    from contract_tests.cli import main as cli  # imported after the setting, so that nothing imports Hypothesis first

    return cli()


if __name__ == "__main__":
    raise SystemExit(main())
