import sys

from gateway.keys.cli import main

sys.exit(main())
