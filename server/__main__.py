"""python -m vecdb_server [--data DIR] [--port P] ...: the same as `vecdb serve`."""

import sys

from .main import main

sys.exit(main())
