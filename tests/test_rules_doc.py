"""docs/kpis.md and the How page describe the rules registry, generated, never hand-kept."""

from __future__ import annotations

from pathlib import Path

from rmdash import cli
from rmdash.rules import load_rules, rules_from_toml
from rmdash.rules_doc import describe_rules, rules_markdown

DOCS_KPIS = Path(__file__).resolve().parents[1] / "docs" / "kpis.md"


def test_docs_kpis_md_is_the_packaged_rules_as_generated():
    # If this fails, regenerate: python -m rmdash rules --markdown > docs/kpis.md
    assert DOCS_KPIS.read_text(encoding="utf-8") == rules_markdown(load_rules())


def test_every_metric_and_component_appears_with_its_target_floor_and_weight():
    rules = load_rules()
    doc = describe_rules(rules)
    assert list(doc.metrics["Metric"]) == [m.label for m in rules.metrics.values()]
    nps = doc.metrics.set_index("Metric").loc[rules.metrics["nps"].label]
    assert (nps["Target (score 100)"], nps["Floor (score 0)"], nps["Better"]) == ("50.0", "-20.0", "higher")
    esc = doc.metrics.set_index("Metric").loc[rules.metrics["escalation_rate"].label]
    assert (esc["Target (score 100)"], esc["Floor (score 0)"], esc["Better"]) == ("2.0%", "20.0%", "lower")
    weights = dict(zip(doc.components["Component"], doc.components["Weight"], strict=True))
    assert weights[rules.components["responsiveness"].label] == 25


def test_a_changed_rule_changes_the_description():
    changed = rules_from_toml("[rag]\ngreen = 90.0\n\n[components.change]\nweight = 30\n")
    text = rules_markdown(changed)
    assert "at 90 or more" in text
    assert "| Change requests | 30 |" in text
    assert text != rules_markdown(load_rules())


def test_the_cli_prints_the_rules_as_markdown_or_toml(tmp_path, capsys):
    assert cli.main(["rules", "--markdown", "--db", str(tmp_path / "none.duckdb")]) == 0
    assert capsys.readouterr().out == rules_markdown(load_rules())
    assert cli.main(["rules", "--db", str(tmp_path / "none.duckdb")]) == 0
    assert rules_from_toml(capsys.readouterr().out).hash == load_rules().hash
