"""``python -m mlops_client``."""

import sys

from mlops_client.cli import main

sys.exit(main())
