"""Error breakdown: what went wrong with each gold mention and each spurious prediction.

Categories (each gold mention gets at most one, in this order of checks; spurious spans are counted per
prediction):
- ``span missed``: no prediction on the mention's exact span;
- ``wrong type``: predictions on the span, none with the gold type;
- ``missed grounding``: right type, the mention is visible (has boxes) but the prediction has no region;
- ``wrong box``: right type, a region, but below the IoU threshold with every gold box;
- ``box on ungroundable``: right type, the mention is not visible but the prediction has a region;
- ``spurious span``: a prediction on a span with no gold mention.
Region categories are only assigned where regions were predicted for the post (``grounded_posts``).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Sequence

from groundex.agent import AnnotatedPost, Prediction
from groundex.eval.metrics import ScoringProtocol

CATEGORIES = ("span missed", "wrong type", "missed grounding", "wrong box", "box on ungroundable", "spurious span")


@dataclass(frozen=True)
class ErrorBreakdown:
    counts: dict[str, int]
    per_post: dict[str, int]  # post id -> number of errors, for picking the worst posts

    def worst_posts(self, limit: int) -> list[str]:
        return [post_id for post_id, count in sorted(self.per_post.items(), key=lambda kv: (-kv[1], kv[0]))
                if count > 0][:limit]


def error_breakdown(gold_posts: Sequence[AnnotatedPost], predictions: Sequence[Prediction],
                    protocol: ScoringProtocol = ScoringProtocol(), grounded_posts: set[str] | None = None) -> ErrorBreakdown:
    counts: Counter = Counter({category: 0 for category in CATEGORIES})
    per_post: Counter = Counter()
    by_span = defaultdict(list)
    for prediction in predictions:
        for triple in prediction.triples:
            by_span[(prediction.post_id, triple.entity.start, triple.entity.end)].append(triple)
    gold_spans = set()
    for annotated in gold_posts:
        post_id = annotated.post.id
        check_regions = grounded_posts is None or post_id in grounded_posts
        for gold in annotated.gold:
            key = (post_id, gold.entity.start, gold.entity.end)
            gold_spans.add(key)
            predicted = by_span.get(key, [])
            typed = [t for t in predicted if t.entity.type == gold.entity.type]
            category = None
            if not predicted:
                category = "span missed"
            elif not typed:
                category = "wrong type"
            elif check_regions and not any(protocol.region_correct(t, gold) for t in typed):
                has_region = [t for t in typed if t.box is not None or t.mask is not None]
                if not gold.groundable:
                    category = "box on ungroundable"
                else:
                    category = "wrong box" if has_region else "missed grounding"
            if category:
                counts[category] += 1
                per_post[post_id] += 1
    for key, triples in by_span.items():
        if key not in gold_spans:
            counts["spurious span"] += len(triples)
            per_post[key[0]] += len(triples)
    return ErrorBreakdown(dict(counts), dict(per_post))
