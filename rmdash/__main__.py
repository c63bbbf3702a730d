"""`python -m rmdash` and the `rmdash` script: the command line (see rmdash.cli)."""

import os
import sys


def run() -> int:
    """Start an import's workbooks reading before anything heavy loads, then run the command."""
    if sys.argv[1:2] != ["import"]:
        from rmdash.cli import run as run_command

        return run_command()
    from rmdash import readahead

    readahead.read_workbooks_ahead(sys.argv[2:])
    from rmdash.cli import run as run_command

    code = run_command()
    if readahead.unused_reads():
        # Nothing will use it (a wrong guess, an error, Ctrl-C): exit now instead of waiting for
        # calamine to finish a read no one needs; a second Ctrl-C in that wait printed a traceback.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


if __name__ == "__main__":
    sys.exit(run())
