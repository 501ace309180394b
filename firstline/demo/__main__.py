"""``python -m firstline.demo``: see ``firstline.demo.run``."""

import sys

from firstline.demo.run import main

sys.exit(main())
