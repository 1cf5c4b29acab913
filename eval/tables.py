"""Rich tables for a ``ScoreReport``: the three tasks overall, and per type."""

from __future__ import annotations

from rich import box
from rich.table import Table

from groundex.eval.metrics import TASKS, Counts, ScoreReport

TASK_TITLES = {"gmner": "GMNER", "mner": "MNER", "eeg": "EEG"}


def _percent(value: float) -> str:
    return f"{100 * value:.2f}"


def overall_table(report: ScoreReport) -> Table:
    table = Table(title="Scores (micro, %)", title_justify="left")
    for column in ("task", "P", "R", "F1", "correct", "predicted", "gold"):
        table.add_column(column, justify="left" if column == "task" else "right")
    for task in TASKS:
        counts = report.task(task).overall
        table.add_row(TASK_TITLES[task], _percent(counts.precision), _percent(counts.recall), _percent(counts.f1),
                      str(counts.correct), str(counts.predicted), str(counts.gold))
    return table


def per_type_table(report: ScoreReport) -> Table:
    table = Table(title="Per type (%)", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("type", no_wrap=True)
    table.add_column("gold", justify="right")
    for task in TASKS:
        for measure in ("P", "R", "F1"):
            table.add_column(f"{TASK_TITLES[task]}\n{measure}", justify="right")
    for type_name, gmner in report.gmner.per_type.items():
        cells = []
        for task in TASKS:
            counts = report.task(task).per_type.get(type_name, Counts(0, 0, 0))
            cells += [_percent(counts.precision), _percent(counts.recall), _percent(counts.f1)]
        table.add_row(type_name, str(gmner.gold), *cells)
    return table


def coverage_notes(report: ScoreReport, any_region_predicted: bool) -> list[str]:
    """Plain-language warnings about what the numbers can and cannot mean."""
    notes = []
    coverage = report.coverage
    if coverage.missing_posts:
        notes.append(
            f"{coverage.missing_posts} of {coverage.gold_posts} posts have no prediction line: their mentions count as missed"
        )
    if coverage.unknown_post_ids:
        shown = ", ".join(coverage.unknown_post_ids[:5]) + (" ..." if len(coverage.unknown_post_ids) > 5 else "")
        notes.append(
            f"{len(coverage.unknown_post_ids)} prediction lines name posts not in the gold ({shown}): "
            "their triples count as false positives"
        )
    if not any_region_predicted and report.eeg.overall.gold:
        notes.append(
            "no prediction has a box or mask (a text-only run?): GMNER and EEG then credit only ungroundable "
            "mentions; MNER is the meaningful score"
        )
    return notes
