"""``python -m controllers.hpa``: see :mod:`controllers.hpa.cli`."""
import sys

from controllers.hpa import cli

sys.exit(cli.main())
