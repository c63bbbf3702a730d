"""`python -m rmdash` and the `rmdash` script: the command line (see rmdash.cli)."""

import sys


def run() -> int:
    """Start an import's first workbook reading before anything heavy loads, then run the command."""
    if sys.argv[1:2] == ["import"]:
        from rmdash.readahead import read_first_workbook_ahead

        read_first_workbook_ahead(sys.argv[2:])
    from rmdash.cli import run as run_command

    return run_command()


if __name__ == "__main__":
    sys.exit(run())
