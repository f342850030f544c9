"""print_table: the main table in the terminal."""

from __future__ import annotations

from rich.console import Console

from safereflect.report import print_table


def test_print_table_shows_arms_values_and_shared_n(results):
    console = Console(width=200, record=True, color_system=None)
    print_table(results, console)
    text = console.export_text()
    assert text.index("raw") < text.index("reflect") < text.index("filter+reflect")
    assert "asr_heldout ↓ n=600" in text and "0.08" in text and "0.05-0.11" in text


def test_print_table_shows_n_per_cell_when_it_differs(results):
    results["arms"]["tag"]["metrics"]["task_acc"]["n"] = 150
    console = Console(width=200, record=True, color_system=None)
    print_table(results, console)
    assert "n=150" in console.export_text()
