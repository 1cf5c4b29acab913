"""How a prediction's triples are shown to a person: the same columns in the terminal chat and the web app."""

from __future__ import annotations

from groundex.agent.schema import Prediction, Triple

TRIPLE_COLUMNS = ("entity", "type", "box (x1, y1, x2, y2 px)", "score", "mask")


def triple_row(triple: Triple) -> list[str]:
    """One triple as display cells: box in original-image pixels rounded to whole pixels, score to 2 decimals."""
    box = ", ".join(f"{v:.0f}" for v in triple.box.as_list()) if triple.box else "not in the image"
    score = f"{triple.score:.2f}" if triple.score is not None else ""
    return [triple.entity.text, triple.entity.type, box, score, "yes" if triple.mask else ""]


def triple_rows(prediction: Prediction | None) -> list[list[str]]:
    """Every triple of ``prediction`` in ``TRIPLE_COLUMNS`` order (none for ``None``)."""
    return [triple_row(t) for t in prediction.triples] if prediction is not None else []
