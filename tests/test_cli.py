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

import pandas as pd
import pytest
from store_fixtures import file_plan, lock_held_by_another_process, sheet_plan, ticket, tickets_now

from rmdash import cli, store
from rmdash.model import ImportOptions

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
