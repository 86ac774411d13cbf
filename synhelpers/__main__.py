import sys

from synhelpers.cli import main

sys.exit(main())
