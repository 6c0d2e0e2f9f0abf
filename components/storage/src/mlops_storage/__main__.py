"""``python -m mlops_storage``."""

import sys

from mlops_storage.cli import main

sys.exit(main())
