"""`python -m fitclip.pipeline [stages…] -p key value`: run the numbered notebooks in order.

The runner is :mod:`fitclip.study.pipeline`, with the rest of the notebooks' helpers. This module only
keeps the short command that the README, the Makefile's `make demo` and CI document working; the
library never imports it (the CLI's ``fitclip pipeline`` forwards to it).
"""

import sys

from fitclip.study.pipeline import main

if __name__ == "__main__":
    sys.exit(main())
