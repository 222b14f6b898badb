import logging
import os
import sys

from governance.cli.main import main

# Tracebacks go to the log only when asked for; users see one `error:` line.
logging.basicConfig(level=logging.DEBUG if os.environ.get("QUORUM_LOG") == "debug" else logging.CRITICAL,
                    format="%(levelname)s %(name)s: %(message)s")
sys.exit(main())
