"""The benchmarks still run (tiny scale): a broken bench would otherwise be found only by `make bench`.

No timing is asserted: only that each side was measured and the store holds what the bench says.
"""

from __future__ import annotations

from bench import bench_kpi
from bench.generate import rows_for


def test_the_kpi_benchmark_builds_a_proportionate_store_and_measures_both_sides():
    result = bench_kpi.run(tickets=4_000, runs=3)
    expected = rows_for(4_000)
    assert result["counts"]["tickets"] == 4_000
    for kind in ("meetings", "change_requests", "surveys", "communications"):
        assert result["counts"][kind] == expected[kind]
    assert len(result["kpi"]) == len(result["baseline"]) == 3
    assert result["kpi_rows"] > 0
    assert "KPI table" in bench_kpi.report(result, 3)


def test_a_benchmark_section_is_replaced_in_place_and_other_sections_are_kept(tmp_path):
    from bench.sections import write_section

    doc = tmp_path / "benchmarks.md"
    write_section("kpi v1", doc, "<!-- kpi:start -->", "<!-- kpi:end -->")
    write_section("page v1", doc, "<!-- page:start -->", "<!-- page:end -->")
    write_section("kpi v2", doc, "<!-- kpi:start -->", "<!-- kpi:end -->")
    text = doc.read_text()
    assert "kpi v2" in text and "kpi v1" not in text and "page v1" in text
    assert text.index("kpi v2") < text.index("page v1")  # replaced where it stood
