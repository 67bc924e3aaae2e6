"""The demo, runnable from a source tree: python python/demo.py [--epochs N] [--out DIR].

The program lives in the package (tf_conv1d_op/demo.py) so that wheel users
have it too, as `python -m tf_conv1d_op demo`.
"""
import sys

from tf_conv1d_op.demo import main

if __name__ == "__main__":
    sys.exit(main())
