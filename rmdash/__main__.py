"""`python -m rmdash` and the `rmdash` script: the command line (see rmdash.cli)."""

import os
import sys


def run() -> int:
    """Start an import's workbooks reading before anything heavy loads, then run the command."""
    if sys.argv[1:2] != ["import"]:
        from rmdash.cli import run as run_command

        return run_command()
    _share_malloc_arenas()
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


def _share_malloc_arenas() -> None:
    """Cap glibc's malloc arenas at three: the main thread's and the two sheet readers'.

    Why: the sheet is parsed in two threads (rmdash.sheetsplit), then DuckDB
    writes in threads of its own; glibc gave each new thread a new arena and
    kept what the readers freed in theirs, so the write's memory came on top of
    the read's (100k tickets: peak 280 MB -> 255 MB; the raw read alone: 138 MB).
    With the cap DuckDB's threads reuse the readers' arenas. One arena was
    measured too: as little memory, but the two readers then contend for it
    (1M tickets 10.4 s -> 13.8 s). Set before any thread starts; a C library
    without mallopt (not glibc) is left as it is.
    """
    try:
        import ctypes

        ctypes.CDLL(None).mallopt(-8, 3)  # M_ARENA_MAX (glibc's malloc.h)
    except (OSError, AttributeError):
        pass


if __name__ == "__main__":
    sys.exit(run())
