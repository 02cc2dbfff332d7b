"""How much labelers agree: per example, per pair (Cohen's kappa), overall (Fleiss' kappa).

Kappa corrects raw agreement for the agreement expected by chance from how often each
label is used: 1 is perfect, 0 is chance, below 0 worse than chance. Cohen's kappa comes
from scikit-learn. Fleiss' kappa comes from statsmodels when it is installed and every
example has the same number of labels; otherwise from ``fleiss_kappa`` below, the usual
generalization to a varying number of labels per example (it equals Fleiss (1971) when the
number is constant; tested against the paper's worked example).

>>> fleiss_kappa(np.array([[2, 0], [1, 1], [0, 2], [0, 2]]))   # hand-computed: 7/15
0.4666666666666667
"""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np

from dlstack.data._catalog import Catalog
from dlstack.data.labeling._common import active_votes

__all__ = [
    "Agreement",
    "ExampleAgreement",
    "PairKappa",
    "agreement",
    "cohen_kappa",
    "fleiss_kappa",
]


@dataclass(frozen=True)
class ExampleAgreement:
    example_id: str
    n_labels: int
    majority: str  # the most given label (ties: the alphabetically first)
    share: float  # fraction of labelers who gave the majority label


@dataclass(frozen=True)
class PairKappa:
    a: str
    b: str
    n: int  # examples both labeled
    kappa: float | None  # None: undefined (both used a single label, or n < 2)


@dataclass(frozen=True)
class Agreement:
    examples: list[ExampleAgreement] = field(default_factory=list)  # those with >= 2 labels
    pairs: list[PairKappa] = field(default_factory=list)
    fleiss: float | None = None

    @property
    def mean_share(self) -> float | None:
        if not self.examples:
            return None
        return float(np.mean([e.share for e in self.examples]))

    def to_dict(self) -> dict[str, object]:
        return {
            "n_examples": len(self.examples),
            "mean_share": self.mean_share,
            "fleiss_kappa": self.fleiss,
            "pairs": [{"a": p.a, "b": p.b, "n": p.n, "kappa": p.kappa} for p in self.pairs],
        }


def agreement(catalog: Catalog) -> Agreement:
    """Agreement over every example with two or more standing labels (skips don't count)."""
    with catalog.connect() as conn:
        votes = active_votes(conn)
    by_example = {
        eid: {u: v.label for u, v in per_user.items() if v.label is not None}
        for eid, per_user in votes.items()
    }
    by_example = {eid: labels for eid, labels in by_example.items() if len(labels) >= 2}
    per_example = []
    for eid, labels in sorted(by_example.items()):
        counts = Counter(labels.values())
        top = max(counts.values())
        majority = min(label for label, n in counts.items() if n == top)
        per_example.append(ExampleAgreement(eid, len(labels), majority, top / len(labels)))

    users = sorted({u for labels in by_example.values() for u in labels})
    pairs = []
    for a, b in combinations(users, 2):
        common = [eid for eid, labels in by_example.items() if a in labels and b in labels]
        ra = [by_example[e][a] for e in common]
        rb = [by_example[e][b] for e in common]
        pairs.append(PairKappa(a, b, len(common), cohen_kappa(ra, rb) if common else None))

    categories = sorted({label for labels in by_example.values() for label in labels.values()})
    index = {c: j for j, c in enumerate(categories)}
    table = np.zeros((len(by_example), len(categories)), dtype=np.int64)  # (items, categories)
    for i, labels in enumerate(by_example.values()):
        for label in labels.values():
            table[i, index[label]] += 1
    return Agreement(per_example, pairs, fleiss_kappa(table) if len(table) else None)


def cohen_kappa(a: Sequence[str], b: Sequence[str]) -> float | None:
    """Cohen's kappa of two labelers over the same examples (scikit-learn's); None when it
    is undefined (chance agreement is already perfect)."""
    if len(a) != len(b):
        raise ValueError(
            f"two labelers need labels for the same examples, got {len(a)} and {len(b)}"
        )
    if len(a) < 2 or len(set(a) | set(b)) < 2:
        return None
    from sklearn.metrics import cohen_kappa_score

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # 0/0 when both use one label: reported as None
        value = float(cohen_kappa_score(list(a), list(b)))
    return None if np.isnan(value) else value


def fleiss_kappa(counts: np.ndarray) -> float | None:
    """Fleiss' kappa from a table ``counts[i, j]``: how many labelers put item i in class j.

    With n_i labels on item i (each n_i >= 2; items with fewer carry no agreement and are
    dropped):

        P_i  = (sum_j n_ij^2 - n_i) / (n_i (n_i - 1))   agreeing pairs among item i's pairs
        P    = mean_i P_i                               observed agreement
        p_j  = sum_i n_ij / sum_i n_i                   how often class j is used
        P_e  = sum_j p_j^2                              agreement expected by chance
        kappa = (P - P_e) / (1 - P_e)                   None when P_e == 1

    statsmodels computes the same when every item has the same number of labels; it is
    used then, if installed.
    """
    table = np.asarray(counts, dtype=np.float64)
    if table.ndim != 2:
        raise ValueError(f"counts must be a 2-D table (items, classes), got shape {table.shape}")
    n = table.sum(axis=1)
    table, n = table[n >= 2], n[n >= 2]
    if len(table) == 0:
        return None
    p_j = table.sum(axis=0) / n.sum()
    p_e = float((p_j**2).sum())
    if np.isclose(p_e, 1.0):
        return None
    if np.all(n == n[0]):
        try:
            from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss
        except ImportError:
            pass
        else:
            return float(sm_fleiss(table, method="fleiss"))
    p_i = ((table**2).sum(axis=1) - n) / (n * (n - 1))
    return float((p_i.mean() - p_e) / (1 - p_e))
