"""The command line (spec section 6): exit codes, one-line errors, batch tables and JSON, undo/redo.

In-process through ``main(argv)`` for speed, plus a few real ``python -m rmdash``
runs for what only a process shows (exit status, stderr, no traceback).
Imports of real files are at the end (they need rmdash.plan).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import filebuilders as fb
import pandas as pd
import pytest
from store_fixtures import file_plan, lock_held_by_another_process, sheet_plan, ticket, tickets_now

from rmdash import cli, readahead, store
from rmdash.model import ImportOptions
from rmdash.readahead import read_workbooks_ahead

REPO = Path(__file__).resolve().parents[1]


def run_cli(*argv: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """``python -m rmdash ...`` in a real process, from outside the repository."""
    full_env = {k: v for k, v in os.environ.items() if k not in ("RMDASH_DEBUG", "RMDASH_DB")}
    full_env.update(PYTHONPATH=str(REPO), **(env or {}))
    return subprocess.run(
        [sys.executable, "-m", "rmdash", *argv],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=REPO.parent,
        timeout=300,
    )


@pytest.fixture
def db(tmp_path) -> Path:
    """A store with three batches of tickets (batch 2 has two rejected rows)."""
    path = tmp_path / "store.duckdb"
    con = store.open_store(path)
    rejected = pd.DataFrame(
        {
            "row_no": [5, 6],
            "reason": ["opened_at: 'soon' is not a date", "ticket_id is blank"],
            "raw": ['{"Number": "T9", "Opened": "soon"}', '{"Number": "", "Opened": "=1+1"}'],
        }
    )
    plans = [
        file_plan(
            tmp_path, "jan.xlsx", sheet_plan("tickets", [ticket("T1", description="jan"), ticket("T2")])
        ),
        file_plan(
            tmp_path,
            "feb.xlsx",
            sheet_plan("tickets", [ticket("T1", description="feb")], sheet="Tickets", rejected=rejected),
        ),
        file_plan(tmp_path, "mar.csv", sheet_plan("tickets", [ticket("T3")], sheet=None)),
    ]
    for plan in plans:
        store.write_plans(con, [plan], ImportOptions(who="tester"))
    con.close()
    return path


def current(db: Path) -> list[tuple]:
    con = store.open_store(db, read_only=True)
    try:
        return tickets_now(con)
    finally:
        con.close()


# ------------------------------------------------------------------ batches


def test_batches_prints_a_table_of_every_batch(db, capsys):
    assert cli.main(["batches", "--db", str(db)]) == 0
    lines = capsys.readouterr().out.splitlines()

    assert lines[0].split()[:6] == ["batch", "status", "kind", "file", "sheet", "new"]
    assert [line.split()[:4] for line in lines[1:4]] == [
        ["1", "active", "tickets", "jan.xlsx"],
        ["2", "active", "tickets", "feb.xlsx"],
        ["3", "active", "tickets", "mar.csv"],
    ]


def test_batches_json_gives_id_file_sheet_kind_sha_active_and_counts(db, capsys):
    assert cli.main(["batches", "--db", str(db), "--json"]) == 0
    batches = json.loads(capsys.readouterr().out)

    assert [b["id"] for b in batches] == [1, 2, 3]
    second = batches[1]
    assert {k: second[k] for k in ("file", "sheet", "kind", "active", "new", "changed", "unchanged")} == {
        "file": "feb.xlsx",
        "sheet": "Tickets",
        "kind": "tickets",
        "active": True,
        "new": 0,
        "changed": 1,
        "unchanged": 0,
    }
    assert (second["superseded"], second["rejected"], len(second["sha256"])) == (0, 2, 64)


def test_the_db_defaults_to_the_rmdash_db_environment_variable(db, capsys, monkeypatch):
    monkeypatch.setenv("RMDASH_DB", str(db))
    assert cli.main(["batches", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 3


def test_without_rmdash_db_the_default_is_data_rmdash_duckdb(monkeypatch):
    monkeypatch.delenv("RMDASH_DB", raising=False)
    args = cli.build_parser().parse_args(["batches"])
    assert args.db == Path("data/rmdash.duckdb")


# ------------------------------------------------------------------ undo / redo


def test_undo_and_redo_change_the_current_rows_and_say_so(db, capsys):
    assert cli.main(["undo", "2", "--db", str(db)]) == 0
    assert "batch 2 (tickets from feb.xlsx / Tickets) is undone; `rmdash redo 2` brings it back" in (
        capsys.readouterr().out
    )
    assert current(db)[0] == ("Acme", "T1", "jan", 1)

    assert cli.main(["redo", "2", "--db", str(db)]) == 0
    assert "batch 2 (tickets from feb.xlsx / Tickets) is active again" in capsys.readouterr().out
    assert current(db)[0] == ("Acme", "T1", "feb", 2)


def test_undoing_an_undone_batch_is_a_one_line_error_with_exit_2(db, capsys):
    cli.main(["undo", "2", "--db", str(db)])
    capsys.readouterr()

    assert cli.main(["undo", "2", "--db", str(db)]) == 2
    err = capsys.readouterr().err
    assert err == "error: batch 2 is already undone; `redo 2` restores it\n"


def test_undo_on_a_missing_database_does_not_create_one(tmp_path, capsys):
    missing = tmp_path / "none.duckdb"
    assert cli.main(["undo", "1", "--db", str(missing)]) == 2
    assert "there is no database at" in capsys.readouterr().err
    assert not missing.exists()


def test_a_busy_database_is_reported_in_one_line(db, capsys, monkeypatch):
    monkeypatch.setattr(store, "DEFAULT_WAIT_SECONDS", 0.3)
    with lock_held_by_another_process(db):
        assert cli.main(["undo", "1", "--db", str(db)]) == 2
    assert (
        capsys.readouterr().err == "error: the database is busy with another import; try again in a minute\n"
    )


# ------------------------------------------------------------------ rejected


def test_rejected_lists_the_rows_and_their_reasons(db, capsys):
    assert cli.main(["rejected", "2", "--db", str(db)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["row", "reason", "original", "cells"]
    assert out[1].startswith("  5  opened_at: 'soon' is not a date")


def test_rejected_csv_has_the_original_cells_in_their_own_columns(db, tmp_path, capsys):
    target = tmp_path / "rejected.csv"
    assert cli.main(["rejected", "2", "--db", str(db), "--csv", str(target)]) == 0

    frame = pd.read_csv(target, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    assert list(frame.columns) == ["row_no", "reason", "Number", "Opened"]
    assert frame.values.tolist() == [
        ["5", "opened_at: 'soon' is not a date", "T9", "soon"],
        ["6", "ticket_id is blank", "", "'=1+1"],
    ]
    assert "2 rejected rows of batch 2 written to" in capsys.readouterr().out


def test_rejected_of_a_batch_without_rejections_says_so(db, capsys):
    assert cli.main(["rejected", "1", "--db", str(db)]) == 0
    assert capsys.readouterr().out == "batch 1 has no rejected rows\n"


# ------------------------------------------------------------------ arguments


def _import_options(*argv: str) -> ImportOptions:
    return cli.options_from_args(cli.build_parser().parse_args(["import", "x.xlsx", *argv]))


def test_import_flags_become_import_options():
    options = _import_options(
        "--kind",
        "tickets",
        "--vendor",
        "Acme",
        "--rm",
        "Rita",
        "--dayfirst",
        "--survey-scale",
        "1-10",
        "--map",
        "ticket_id=Number",
        "--map",
        "opened_at=Created = UTC",
        "--save-mapping",
        "ServiceNow",
        "--strict",
    )
    assert (options.kind, options.date_order, options.survey_scale, options.strict) == (
        "tickets",
        "dayfirst",
        (1.0, 10.0),
        True,
    )
    assert options.constants == {"vendor": "Acme", "rm": "Rita"}
    assert options.column_map == {"ticket_id": "Number", "opened_at": "Created = UTC"}
    assert (options.save_mapping, options.mapping_name) == ("ServiceNow", None)
    assert _import_options("--monthfirst").date_order == "monthfirst"
    assert _import_options().date_order == "auto"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--survey-scale", "10-1"], "--survey-scale '10-1': write it as MIN-MAX"),
        (["--survey-scale", "ten"], "--survey-scale 'ten': write it as MIN-MAX"),
        (["--map", "ticket_id"], "--map 'ticket_id': write it as COLUMN=HEADER"),
        (["--map", "colour=Color"], "'colour' is not a column of any kind"),
        (["--kind", "meetings", "--map", "ticket_id=Number"], "'ticket_id' is not a column of meetings"),
        (["--dayfirst", "--monthfirst"], "not allowed with argument"),
        (["--save-mapping", "a", "--mapping", "b"], "not allowed with argument"),
        (["--kind", "ticket"], "invalid choice: 'ticket'"),
    ],
)
def test_bad_import_arguments_are_one_line_errors_with_exit_2(tmp_path, capsys, argv, message):
    db = tmp_path / "s.duckdb"
    assert cli.main(["import", "x.xlsx", "--db", str(db), *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and err.startswith("error: ")
    assert not db.exists()


def test_help_exits_0(capsys):
    assert cli.main(["--help"]) == 0
    assert "import" in capsys.readouterr().out


def test_an_internal_error_is_one_line_with_exit_3_and_the_traceback_only_on_request(db, capsys, monkeypatch):
    def broken(con):
        raise ValueError("something\nunexpected")

    monkeypatch.setattr(store, "list_batches", broken)
    assert cli.main(["batches", "--db", str(db)]) == 3
    assert capsys.readouterr().err == "error: internal error: ValueError: something unexpected\n"

    monkeypatch.setenv("RMDASH_DEBUG", "1")
    assert cli.main(["batches", "--db", str(db)]) == 3
    assert "Traceback (most recent call last)" in capsys.readouterr().err


def test_a_subcommand_is_one_function_and_one_registration(capsys, monkeypatch):
    monkeypatch.setattr(cli, "COMMANDS", dict(cli.COMMANDS))

    @cli.command("hello", "say hello", lambda p: p.add_argument("--name", default="world"))
    def _hello(args):
        print(f"hello {args.name} from {args.db}")
        return 0

    assert cli.main(["hello", "--name", "Rita", "--db", "x.duckdb"]) == 0
    assert capsys.readouterr().out == "hello Rita from x.duckdb\n"


def test_a_real_process_prints_one_line_and_no_traceback(tmp_path):
    done = run_cli("batches", "--db", str(tmp_path / "missing.duckdb"))
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.startswith("error: there is no database at ") and done.stderr.count("\n") == 1


# ------------------------------------------------------------------ import (real files)

TICKETS_CSV = [
    "Ticket ID,Supplier,Type,Priority,Opened",
    "T1,Acme,Incident,P1,2026-01-05 09:00",
    "T2,Acme,Request,,2026-01-06 10:00",
    "T3,Acme,Incident,P2,soon",
    "T4,Acme,Incident,P2,",
]


def csv_file(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_import_prints_the_batch_table_warnings_and_rejected_rows_and_exits_0(tmp_path, capsys):
    path = csv_file(tmp_path / "tickets.csv", TICKETS_CSV)
    db = tmp_path / "s.duckdb"

    assert cli.main(["import", str(path), "--db", str(db)]) == 0
    out = capsys.readouterr().out

    table = out.split("\n\n")[0].splitlines()
    assert table[1].split() == ["1", "active", "tickets", "tickets.csv", "2", "0", "0", "0", "2", "0"]
    assert "\nwarnings:\n  batch 1 (tickets.csv): " in out
    assert "  batch 1 (tickets.csv): priority: 1 row(s) blank or unrecognised, read as P3\n" in out
    assert "rejected rows of batch 1 (tickets.csv) (all: `rmdash rejected 1 --csv FILE`):" in out
    assert "  row 4: " in out and "  row 5: " in out


def test_import_json_gives_the_spec_fields_per_batch(tmp_path, capsys):
    path = csv_file(tmp_path / "tickets.csv", TICKETS_CSV)
    assert cli.main(["import", str(path), "--db", str(tmp_path / "s.duckdb"), "--json"]) == 0

    [batch] = json.loads(capsys.readouterr().out)
    spec_fields = [
        "id",
        "file",
        "sheet",
        "kind",
        "sha256",
        "active",
        "new",
        "changed",
        "unchanged",
        "superseded",
    ]
    assert set(spec_fields + ["rejected", "skipped", "warnings"]) <= set(batch)
    assert [batch[k] for k in ("id", "file", "sheet", "kind", "active", "new", "rejected")] == [
        1,
        "tickets.csv",
        None,
        "tickets",
        True,
        2,
        2,
    ]


def test_reimporting_the_same_file_says_nothing_changed(tmp_path, capsys):
    path = csv_file(tmp_path / "tickets.csv", TICKETS_CSV)
    db = tmp_path / "s.duckdb"
    cli.main(["import", str(path), "--db", str(db)])
    capsys.readouterr()

    assert cli.main(["import", str(path), "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[1].split()[:4] == ["-", "same", "as", "1"]
    assert "tickets.csv: identical to batch 1, nothing changed" in out


def test_strict_import_with_a_rejected_row_fails_in_one_line_and_leaves_the_database_untouched(tmp_path):
    db = tmp_path / "s.duckdb"
    first = csv_file(tmp_path / "jan.csv", TICKETS_CSV[:2])
    assert run_cli("import", str(first), "--db", str(db)).returncode == 0
    before = current(db)

    done = run_cli("import", str(csv_file(tmp_path / "feb.csv", TICKETS_CSV)), "--db", str(db), "--strict")

    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith(
        "error: --strict: 2 rows were rejected, nothing imported; first: feb.csv row 4"
    )
    assert done.stderr.count("\n") == 1
    assert current(db) == before
    assert len(json.loads(run_cli("batches", "--db", str(db), "--json").stdout)) == 1


def test_an_unreadable_file_fails_in_one_line_and_creates_no_database(tmp_path):
    bad = tmp_path / "report.xlsx"
    bad.write_bytes(b"\x00\x01 not a spreadsheet at all")
    db = tmp_path / "s.duckdb"

    done = run_cli("import", str(bad), "--db", str(db))

    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "report.xlsx" in done.stderr
    assert "Traceback" not in done.stderr
    assert not db.exists()


def test_a_missing_required_column_is_an_error_naming_it(tmp_path, capsys):
    path = csv_file(tmp_path / "snow.csv", ["Number,Type,Opened", "INC1,Incident,2026-01-05 09:00"])
    db = tmp_path / "s.duckdb"

    assert cli.main(["import", str(path), "--db", str(db)]) == 2
    assert "vendor" in capsys.readouterr().err

    assert cli.main(["import", str(path), "--db", str(db), "--vendor", "Acme", "--rm", "Rita"]) == 0
    con = store.open_store(db, read_only=True)
    assert store.current_rows(con, "tickets")[["vendor", "rm"]].values.tolist() == [["Acme", "Rita"]]
    con.close()


def test_map_and_save_mapping_then_mapping_by_name(tmp_path, capsys):
    db = tmp_path / "s.duckdb"
    jan = csv_file(tmp_path / "jan.csv", ["Ref,Client,Kind,Logged At", "R1,Acme,Incident,05/01/2026 09:00"])
    maps = ["--map", "ticket_id=Ref", "--map", "vendor=Client", "--map", "ticket_type=Kind"]
    argv = ["import", str(jan), "--db", str(db), "--kind", "tickets", *maps, "--map", "opened_at=Logged At"]

    assert cli.main([*argv, "--dayfirst", "--save-mapping", "Helpdesk"]) == 0
    feb = csv_file(tmp_path / "feb.csv", ["Ref,Client,Kind,Logged At", "R2,Acme,Request,06/02/2026 09:00"])
    assert (
        cli.main(["import", str(feb), "--db", str(db), "--mapping", "Helpdesk", "--dayfirst", "--json"]) == 0
    )

    out = capsys.readouterr().out
    assert json.loads(out[out.index("[") :])[0]["new"] == 1
    con = store.open_store(db, read_only=True)
    frame = store.current_rows(con, "tickets")
    con.close()
    assert frame["ticket_id"].tolist() == ["R1", "R2"]
    assert frame["opened_at"].dt.strftime("%Y-%m-%d").tolist() == ["2026-01-05", "2026-02-06"]


def test_an_unknown_mapping_name_is_a_one_line_error(tmp_path, capsys):
    path = csv_file(tmp_path / "t.csv", TICKETS_CSV)
    assert cli.main(["import", str(path), "--db", str(tmp_path / "s.duckdb"), "--mapping", "Nope"]) == 2
    assert "no saved mapping named 'Nope'" in capsys.readouterr().err


def test_demo_loads_sample_data_into_the_database(tmp_path, capsys, monkeypatch):
    import functools

    from rmdash import demo

    # The CLI's demo is load_demo(db); here without refreshing the repository's sample templates.
    monkeypatch.setattr(demo, "load_demo", functools.partial(demo.load_demo, samples_dir=None))
    db = tmp_path / "demo.duckdb"

    assert cli.main(["demo", "--db", str(db)]) == 0

    assert f"demo data is in {db}" in capsys.readouterr().out
    con = store.open_store(db, read_only=True)
    kinds = {b.kind for b in store.list_batches(con)}
    con.close()
    assert {"tickets", "meetings", "surveys"} <= kinds


def test_demo_if_empty_leaves_a_store_that_has_data_alone(tmp_path, capsys):
    db = tmp_path / "s.duckdb"
    assert cli.main(["import", str(csv_file(tmp_path / "tickets.csv", TICKETS_CSV)), "--db", str(db)]) == 0
    capsys.readouterr()

    assert cli.main(["demo", "--if-empty", "--db", str(db)]) == 0

    assert "already has data: demo not loaded" in capsys.readouterr().out
    con = store.open_store(db, read_only=True)
    assert [b.kind for b in store.list_batches(con)] == ["tickets"]
    con.close()


def test_an_import_process_never_loads_pandas_nor_starts_blas_threads_and_still_shows_its_rejected_rows(
    tmp_path,
):
    """The import path stays in Arrow: pandas (0.35 s, 45 MB) is not even imported, and
    numpy's OpenBLAS starts no spinning threads (rmdash.__main__._no_blas_threads).

    A workbook and a CSV with rejected rows, so the read-ahead, typing, the raw
    cells as JSON and the rejected-rows sample all run in the real process.
    """
    workbook = fb.write_xlsx(tmp_path / "tickets.xlsx", {"Tickets": fb.ticket_rows()})
    rejects = csv_file(tmp_path / "more.csv", TICKETS_CSV)
    done = run_cli("import", str(workbook), str(rejects), "--db", str(tmp_path / "s.duckdb"))
    assert done.returncode == 0, done.stderr
    assert "  row 4: opened_at: cannot read 'soon' as a date" in done.stdout

    # the import process ends with os._exit after the exit handlers, so the probe is one of them
    probe = (
        "import atexit, sys, runpy; sys.argv = ['rmdash', 'import', *sys.argv[1:]]\n"
        "import os; atexit.register(lambda: print('pandas loaded', 'pandas' in sys.modules, "
        "'blas threads', os.environ.get('OPENBLAS_NUM_THREADS')))\n"
        "runpy.run_module('rmdash', run_name='__main__')\n"
    )
    again = subprocess.run(
        [sys.executable, "-c", probe, str(workbook), str(rejects), "--db", str(tmp_path / "t.duckdb")],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        cwd=REPO.parent,
        timeout=300,
    )
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines()[-1] == "pandas loaded False blas threads 1", again.stderr


def test_rmdash_trace_prints_where_an_import_spends_its_time_and_nothing_without_it(tmp_path):
    workbook = fb.write_xlsx(tmp_path / "tickets.xlsx", {"Tickets": fb.ticket_rows()})
    traced = run_cli("import", str(workbook), "--db", str(tmp_path / "a.duckdb"), env={"RMDASH_TRACE": "1"})
    phases = [line.split()[2:4] for line in traced.stderr.splitlines() if line.startswith("trace ")]
    assert ["read-ahead:", "done"] in phases and ["importer:", "planned"] in phases
    assert ["importer:", "store"] in phases  # "store open" and "store closed"
    plain = run_cli("import", str(workbook), "--db", str(tmp_path / "b.duckdb"))
    assert plain.returncode == 0 and "trace " not in plain.stderr


def test_the_read_ahead_guess_starts_with_the_first_workbook_argument_and_a_wrong_guess_changes_nothing(
    tmp_path,
):
    workbook = fb.write_xlsx(tmp_path / "tickets.xlsx", {"Tickets": fb.ticket_rows()})
    other = fb.write_xlsx(tmp_path / "other.xlsx", {"Meetings": fb.meeting_rows()})
    for ahead in readahead._prefetched.values():  # left by earlier in-process imports that stopped early
        ahead.thread.join()
    readahead._prefetched.clear()
    read_workbooks_ahead(["--vendor", "Acme", str(workbook), str(other)])
    assert list(readahead._prefetched) == [str(workbook.resolve())]
    readahead._prefetched[str(workbook.resolve())].thread.join()
    # the file imported is another one: it is read itself, the guess is left unused
    db = tmp_path / "s.duckdb"
    assert cli.main(["import", str(other), "--db", str(db)]) == 0
    con = store.open_store(db, read_only=True)
    try:  # the other file's own rows, not the guessed workbook's
        assert [s.kind for s in store.list_batches(con)] == ["meetings"]
        assert con.execute("SELECT count(*) FROM tickets").fetchone()[0] == 0
    finally:
        con.close()
    readahead._prefetched.clear()
    readahead._queued.clear()
