"""`python -m rmdash` and the `rmdash` script: the command line (see rmdash.cli)."""

import atexit
import os
import sys
import threading


def run() -> int:
    """Start an import's workbooks reading before anything heavy loads, then run the command."""
    _no_blas_threads()
    if sys.argv[1:2] != ["import"]:
        from rmdash.cli import run as run_command

        return run_command()
    _share_malloc_arenas()
    from rmdash import readahead

    readahead.read_workbooks_ahead(sys.argv[2:])
    from rmdash.cli import run as run_command

    code = run_command()
    # A read-ahead nobody took (a wrong guess, an error, Ctrl-C) is not waited for: calamine would
    # finish a read no one needs, and a second Ctrl-C in that wait printed a traceback.
    _exit_now(code, wait_for_threads=not readahead.unused_reads())
    return code  # not CPython (see _exit_now): the interpreter exits as usual


def _exit_now(code: int, wait_for_threads: bool) -> None:
    """End an import process at once: exit handlers run, the interpreter's teardown is skipped.

    Why: freeing every module and object of an import that just wrote 100k
    rows takes 50-70 ms, about 4 % of the import, for nothing: the store is
    closed and committed by now. What must still happen does: the atexit
    handlers (temporary Parquet parts of a large sheet, logging) and the
    flush of stdout and stderr.
    """
    run_exit_handlers = getattr(atexit, "_run_exitfuncs", None)
    if run_exit_handlers is None:  # not CPython: the normal exit
        return
    if wait_for_threads:
        for thread in threading.enumerate():
            if thread is not threading.main_thread() and not thread.daemon:
                thread.join()  # what the normal exit does first
    run_exit_handlers()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _no_blas_threads() -> None:
    """Keep numpy's OpenBLAS from starting threads of its own (unless the user said otherwise).

    Why: numpy loads with pyarrow, and OpenBLAS starts a thread per core that
    spins for a while waiting for matrix work no command here ever gives it.
    On two cores that spinning took the CPU from the sheet readers: 100k
    tickets, 5 % of the import's CPU samples (perf), about 0.1 s. Set before
    numpy loads; nothing in rmdash multiplies matrices.
    """
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


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
