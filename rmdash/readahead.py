"""Reading workbooks ahead, in a background thread, while the import path loads its modules.

Purpose: the CLI's import starts parsing its first workbook at once (calamine
releases the GIL) and loads pyarrow, DuckDB and the typing code meanwhile; a
100k-row sheet is most of an import's time. Each next workbook is parsed
while the one before it is typed. Boundary: stdlib and the
no-pyarrow safety checks (rmdash.filesafety) at import time, so the thread
starts before any heavy module loads; what it read is used by
rmdash.readers.open_sheets only for the same unchanged file, which reads
(and refuses) the file itself whenever the thread failed or did not get that far.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from rmdash import filesafety, sheetsplit, trace

if TYPE_CHECKING:
    import pyarrow as pa


@dataclass
class _Prefetch:
    """A workbook being read in a background thread; what it got is used only for the same unchanged file."""

    key: tuple
    thread: threading.Thread
    reader: object = None
    sheets: dict[int, tuple[pa.Table, list[str]]] = field(default_factory=dict)


_prefetched: dict[str, _Prefetch] = {}
# Workbooks to read ahead next, in order: one starts when the one before it is taken, so at most
# one workbook read ahead waits in memory beside the one being typed.
_queued: list[Path] = []
_queue_lock = threading.Lock()  # the main thread and a read-ahead that found nothing both start the next


def _file_key(path: Path) -> tuple | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return (str(path.resolve()), stat.st_size, stat.st_mtime_ns)


def prefetch_workbooks(paths: list[str | Path]) -> None:
    """Read workbooks ahead one after another: the first now, each next one once the one before
    it is taken (open_sheets), so reading file k+1 overlaps typing file k."""
    with _queue_lock:
        for path in paths:
            key = _file_key(Path(path))
            if key is not None and key[0] not in _prefetched and Path(path) not in _queued:
                _queued.append(Path(path))
        busy = any(ahead.thread.is_alive() or ahead.reader is not None for ahead in _prefetched.values())
    if not busy:
        _start_next()


def _start_next() -> None:
    """Start reading the next queued workbook, if any."""
    with _queue_lock:
        while _queued:
            path = _queued.pop(0)
            key = _file_key(path)
            if key is not None and key[0] not in _prefetched:
                prefetch_workbook(path)
                return


def prefetch_workbook(path: str | Path) -> None:
    """Start reading a workbook's sheets in a background thread (the CLI's import).

    Why: parsing a workbook is most of an import's reading time and calamine
    releases the GIL, so it can run while the import path loads its heavy
    modules (pyarrow, DuckDB). The same safety checks run first, in the
    thread, before any parser sees the bytes. Nothing is reported from here:
    ``open_sheets`` uses what was read for the same unchanged file, and reads
    (and refuses) it itself whenever the thread failed or did not get that far.
    """
    path = Path(path)
    key = _file_key(path)
    if key is None or key[0] in _prefetched:  # already being read (run() guessed it)
        return
    # not a daemon: the interpreter waits for it instead of stopping it inside calamine
    thread = threading.Thread(target=lambda: _read_ahead(path, ahead), name="rmdash-read-ahead")
    ahead = _Prefetch(key, thread)
    _prefetched[key[0]] = ahead
    thread.start()


def _read_ahead(path: Path, ahead: _Prefetch) -> None:
    try:
        label = filesafety.one_line(path.name)
        if not filesafety.check_size_and_read_head(path, label).startswith(filesafety.ZIP_MAGIC):
            _nothing_read(ahead)  # not a workbook (open_sheets reads the CSV itself)
            return
        filesafety.check_workbook_zip(path, label)
        trace.mark("read-ahead: safety checks passed")
        import fastexcel

        reader = fastexcel.read_excel(str(path))
        for index, name in enumerate(reader.sheet_names):
            ahead.sheets[index] = read_text_sheet(path, reader, index, name)
            trace.mark(f"read-ahead: sheet {index} read")
        ahead.reader = reader
        trace.mark("read-ahead: done")
    except Exception:  # noqa: S110 (open_sheets reads the file again and says what is wrong)
        _nothing_read(ahead)


def _nothing_read(ahead: _Prefetch) -> None:
    """Forget a read-ahead that got nothing (open_sheets reads such a file itself) and start the next."""
    ahead.sheets.clear()
    with _queue_lock:
        if _prefetched.get(ahead.key[0]) is ahead:
            del _prefetched[ahead.key[0]]
    _start_next()


def take_prefetched(path: Path) -> _Prefetch | None:
    """What was read ahead for this file, once, if the file has not changed since."""
    key = _file_key(path)
    ahead = _prefetched.get(key[0]) if key else None
    if ahead is None:
        return None
    ahead.thread.join()  # interrupted (Ctrl-C): still listed, so unused_reads() sees it
    _prefetched.pop(key[0], None)
    _start_next()  # the next workbook is read while this one is typed
    return ahead if ahead.key == key and ahead.reader is not None else None


def load_text_sheet(reader, index: int, n_rows: int | None = None):
    """One sheet parsed by calamine (fastexcel's lazy sheet), every cell as text, positions kept."""
    # skip_rows=0 keeps leading blank rows, so row i is Excel row i+1
    return reader.load_sheet(index, **sheetsplit.TEXT_SHEET_OPTIONS, skip_rows=0, n_rows=n_rows)


def read_text_sheet(path: Path, reader, index: int, name: str):
    """A whole sheet as (text table, column letters): a large one in two parts at once (rmdash.sheetsplit)."""
    try:
        loaded = sheetsplit.read_split(path, name)
    except Exception:  # noqa: BLE001 (read whole below: a damaged sheet is reported from there)
        loaded = None
    if loaded is not None:
        return loaded
    sheet = load_text_sheet(reader, index)  # calamine, GIL released: pyarrow loads meanwhile
    from rmdash.readers import text_table  # noqa: PLC0415 (pyarrow: by now loaded by the main thread)

    return text_table(sheet)


def read_workbooks_ahead(args: list[str]) -> None:
    """Start reading the arguments naming .xlsx/.xlsm files, before the arguments are parsed.

    ``python -m rmdash import`` calls this first thing, so calamine starts about
    0.1 s sooner than after argparse (which loads the command line's modules).
    A wrong guess (an option's value that ends in .xlsx) costs only that read:
    nothing read ahead is used unless open_sheets is asked for that same unchanged file.
    """
    prefetch_workbooks([a for a in args if not a.startswith("-") and a.lower().endswith((".xlsx", ".xlsm"))])


def being_read_ahead(path: str | Path) -> bool:
    """Is this unchanged file being read ahead right now (its reader thread still parsing)?"""
    key = _file_key(Path(path))
    ahead = _prefetched.get(key[0]) if key else None
    return ahead is not None and ahead.key == key and ahead.thread.is_alive()


def unused_reads() -> bool:
    """Is a read-ahead nobody took still running (a wrong guess, or a command that failed first)?"""
    return any(ahead.thread.is_alive() for ahead in _prefetched.values())
