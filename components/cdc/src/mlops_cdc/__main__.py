"""``python -m mlops_cdc`` runs the ``mlops-cdc`` command."""

import sys

from mlops_cdc.cli import main

if __name__ == "__main__":
    sys.exit(main())
