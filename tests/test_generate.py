"""The benchmark data generator: deterministic tables of every kind, CSV and xlsx writers, CLI."""

from __future__ import annotations

import datetime as dt

import numpy as np
import openpyxl
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

from bench import generate as g
from rmdash.schema import KIND_NAMES, load_schema


def test_the_same_seed_gives_equal_tables_and_another_seed_different_ones():
    for kind in KIND_NAMES:
        assert g.generate(kind, 500, seed=3).equals(g.generate(kind, 500, seed=3)), kind
        if kind != "contracts":
            assert not g.generate(kind, 500, seed=3).equals(g.generate(kind, 500, seed=4)), kind


def test_other_kinds_come_in_proportion_to_the_tickets():
    assert g.rows_for(100_000) == {
        "meetings": 50,
        "tickets": 100_000,
        "change_requests": 100,
        "surveys": 200,
        "communications": 5,
        "contracts": 20,
    }
    assert g.rows_for(10_000)["communications"] == 1  # never zero rows


def test_every_kind_has_the_registry_columns_the_row_count_and_no_blank_required_value():
    schema = load_schema()
    for kind, n in g.rows_for(20_000).items():
        table = g.generate(kind, n, seed=1)
        k = schema.kind(kind)
        assert tuple(table.column_names) == k.column_names, kind
        assert table.num_rows == n, kind
        for col in k.required:
            assert table[col].null_count == 0, f"{kind}.{col}"
        keys = table.select(list(k.key)).to_pandas()
        assert not keys.duplicated().any(), kind


def test_columns_have_the_arrow_type_of_their_registry_type():
    expected = {
        "text": pa.string(),
        "titles": pa.string(),
        "priority": pa.string(),
        "date": pa.date32(),
        "datetime": pa.timestamp("s"),
        "number": pa.float64(),
        "score": pa.float64(),
        "bool": pa.bool_(),
    }
    for kind in KIND_NAMES:
        table = g.generate(kind, 200, seed=1)
        for col in load_schema().kind(kind).columns:
            assert table.schema.field(col.name).type == expected[col.type], f"{kind}.{col.name}"


def test_tickets_look_like_tickets():
    t = g.generate("tickets", 20_000, seed=1).to_pandas()
    assert set(t["ticket_type"]) == {"Incident", "Request", "Complaint", "Compliment"}
    assert set(t["priority"]) == {"P1", "P2", "P3", "P4"}
    assert t["vendor"].nunique() == g.N_VENDORS
    assert 0 < t["rm"].isna().mean() < 0.1
    assert (t["responded_at"].dropna() >= t.loc[t["responded_at"].notna(), "opened_at"]).all()
    assert t.loc[t["ticket_type"] != "Incident", "action_plan_shared"].isna().all()


def test_csv_is_written_deterministically_and_reads_back(tmp_path):
    table = g.generate("tickets", 2_000, seed=5)
    a = g.write_csv(table, tmp_path / "a.csv")
    b = g.write_csv(g.generate("tickets", 2_000, seed=5), tmp_path / "b.csv")
    assert a.read_bytes() == b.read_bytes()
    back = pacsv.read_csv(a)
    assert back.num_rows == 2_000
    assert back.column_names == table.column_names
    assert back["ticket_id"].to_pylist() == table["ticket_id"].to_pylist()
    assert back["opened_at"].cast(pa.timestamp("s")).equals(table["opened_at"])


def test_xlsx_has_a_header_real_date_cells_and_reads_back(tmp_path):
    table = g.generate("meetings", 60, seed=2)
    path = g.write_xlsx(table, tmp_path / "meetings.xlsx", sheet="Meetings")
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["Meetings"]
    ws = wb["Meetings"]
    assert [c.value for c in ws[1]] == table.column_names
    assert ws.max_row == 61
    scheduled = ws.cell(row=2, column=table.column_names.index("scheduled_date") + 1)
    assert scheduled.is_date
    assert scheduled.value == dt.datetime.combine(table["scheduled_date"][0].as_py(), dt.time())
    ids = [ws.cell(row=r, column=1).value for r in range(2, 62)]
    assert ids == table["meeting_id"].to_pylist()


def test_xlsx_of_the_same_table_is_the_same_bytes(tmp_path):
    table = g.generate("surveys", 100, seed=2)
    a = g.write_xlsx(table, tmp_path / "a.xlsx")
    b = g.write_xlsx(table, tmp_path / "b.xlsx")
    assert a.read_bytes() == b.read_bytes()


def test_xlsx_refuses_more_rows_than_an_excel_sheet_holds(tmp_path):
    table = pa.table({"a": np.zeros(1_048_576, dtype=np.int8)})
    with pytest.raises(ValueError, match="Excel sheet"):
        g.write_xlsx(table, tmp_path / "big.xlsx")
    assert not (tmp_path / "big.xlsx").exists()


def test_the_cli_writes_every_kind_in_every_format(tmp_path, capsys):
    assert g.main(["--tickets", "4000", "--out", str(tmp_path), "--format", "csv,xlsx", "--seed", "9"]) == 0
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == sorted(f"{k}.{ext}" for k in KIND_NAMES for ext in ("csv", "xlsx"))
    assert pacsv.read_csv(tmp_path / "tickets.csv").num_rows == 4000
    ws = openpyxl.load_workbook(tmp_path / "change_requests.xlsx", read_only=True)["Change requests"]
    assert sum(1 for _ in ws.iter_rows()) == 1 + 4
    assert "tickets.csv: 4,000 rows" in capsys.readouterr().out


def test_the_cli_rejects_an_unknown_format(tmp_path):
    with pytest.raises(SystemExit):
        g.main(["--tickets", "10", "--out", str(tmp_path), "--format", "parquet"])
