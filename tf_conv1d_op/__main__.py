"""`python -m tf_conv1d_op info|bench|demo` (see cli.py)."""
import sys

from tf_conv1d_op.cli import main

sys.exit(main())
