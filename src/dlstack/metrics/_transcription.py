"""Transcription metrics of line reading: CER, WER, exact lines, CER by length, confusions.

The rates come from torchmetrics (corpus-level: total edits over total reference
characters or words, the way handwriting recognition reports them). The confusions come
from one minimal edit alignment per line (a small Levenshtein table with a backtrace:
neither rapidfuzz nor python-Levenshtein is a dependency, and torchmetrics gives distances
only): each substitution is a (true, read) pair, a deletion (true, ""), an insertion
("", read).

>>> m = transcription_metrics(["12", "3/4"], ["12", "3/9"])
>>> round(m.cer, 4), m.line_accuracy, m.confusions
(0.2, 0.5, (('4', '9', 1),))
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from dlstack.errors import DataError

__all__ = [
    "LENGTH_BUCKETS",
    "TOP_CONFUSIONS",
    "TranscriptionMetrics",
    "alignment_edits",
    "length_bucket",
    "transcription_metrics",
]

# Reference lengths (characters) that slice the CER: a model that drops characters of long
# lines, or hallucinates on one-character lines, shows here and not in the overall CER.
LENGTH_BUCKETS = ((1, 3), (4, 6), (7, 9), (10, None))
TOP_CONFUSIONS = 10  # the most frequent (true, read) pairs kept


@dataclass(frozen=True)
class TranscriptionMetrics:
    """Scores of read lines against the true ones.

    ``cer_by_length`` maps a bucket name ("1-3", "10+") to (CER, lines) over the lines of
    that reference length; ``confusions`` are the most frequent (true, read, count) edits,
    "" standing for a character missing on that side.
    """

    n: int
    cer: float
    wer: float
    line_accuracy: float
    cer_by_length: dict[str, tuple[float, int]]
    confusions: tuple[tuple[str, str, int], ...]
    edits: int  # total character edits (the CER's numerator)
    characters: int  # total reference characters (its denominator)

    def summary(self) -> dict[str, float]:
        """The headline numbers (what trackers and model.json store)."""
        return {"cer": self.cer, "wer": self.wer, "line_accuracy": self.line_accuracy}

    def values(self, names: Sequence[str] | None = None) -> dict[str, float]:
        """Every number by the name an objective, a constraint or a test can use: ``cer``,
        ``wer``, ``line_accuracy`` and per length bucket ``cer[1-3]``, ``cer[10+]``...
        (``names``, the alphabet, is accepted like the other tasks' and not needed).

        >>> transcription_metrics(["1", "1234"], ["1", "1243"]).values()["cer[4-6]"]
        0.5
        """
        out = self.summary()
        for bucket, (cer, _) in self.cer_by_length.items():
            out[f"cer[{bucket}]"] = cer
        return out


def transcription_metrics(
    references: Sequence[str], hypotheses: Sequence[str], *, top: int = TOP_CONFUSIONS
) -> TranscriptionMetrics:
    """CER, WER, line accuracy, CER by reference length and the ``top`` confusions."""
    refs, hyps = _checked(references, hypotheses)
    by_bucket: dict[str, tuple[list[str], list[str]]] = {}
    for ref, hyp in zip(refs, hyps, strict=True):
        bucket = length_bucket(len(ref))
        by_bucket.setdefault(bucket, ([], []))
        by_bucket[bucket][0].append(ref)
        by_bucket[bucket][1].append(hyp)
    order = [_bucket_name(lo, hi) for lo, hi in LENGTH_BUCKETS] + ["0"]
    cer_by_length = {
        b: (_cer(*by_bucket[b]), len(by_bucket[b][0])) for b in order if b in by_bucket
    }
    pairs: Counter[tuple[str, str]] = Counter()
    edits = 0
    for ref, hyp in zip(refs, hyps, strict=True):
        ops = alignment_edits(ref, hyp)
        edits += len(ops)
        pairs.update(ops)
    ranked = sorted(pairs.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
    return TranscriptionMetrics(
        n=len(refs),
        cer=_cer(refs, hyps),
        wer=_wer(refs, hyps),
        line_accuracy=sum(r == h for r, h in zip(refs, hyps, strict=True)) / len(refs),
        cer_by_length=cer_by_length,
        confusions=tuple((t, r, c) for (t, r), c in ranked),
        edits=edits,
        characters=sum(len(r) for r in refs),
    )


def length_bucket(length: int) -> str:
    """The LENGTH_BUCKETS name of a reference ``length`` ("0" for an empty line)."""
    for lo, hi in LENGTH_BUCKETS:
        if length >= lo and (hi is None or length <= hi):
            return _bucket_name(lo, hi)
    return "0"


def alignment_edits(ref: str, hyp: str) -> list[tuple[str, str]]:
    """The edits of one minimal alignment of ``hyp`` to ``ref``, left to right:
    (true, read) substitutions, (true, "") deletions, ("", read) insertions.

    >>> alignment_edits("1234", "1z34x")
    [('2', 'z'), ('', 'x')]
    """
    n, m = len(ref), len(hyp)
    dist = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n + 1):
        dist[i][0] = i
    for j in range(m + 1):
        dist[0][j] = j
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            cost = 0 if ref[i - 1] == hyp[j - 1] else 1
            dist[i][j] = min(dist[i - 1][j] + 1, dist[i][j - 1] + 1, dist[i - 1][j - 1] + cost)
    out: list[tuple[str, str]] = []
    i, j = n, m
    while i > 0 or j > 0:  # prefer matches/substitutions, then deletions, then insertions
        if i > 0 and j > 0 and dist[i][j] == dist[i - 1][j - 1] + (ref[i - 1] != hyp[j - 1]):
            if ref[i - 1] != hyp[j - 1]:
                out.append((ref[i - 1], hyp[j - 1]))
            i, j = i - 1, j - 1
        elif i > 0 and dist[i][j] == dist[i - 1][j] + 1:
            out.append((ref[i - 1], ""))
            i -= 1
        else:
            out.append(("", hyp[j - 1]))
            j -= 1
    return out[::-1]


def _bucket_name(lo: int, hi: int | None) -> str:
    return f"{lo}+" if hi is None else f"{lo}-{hi}"


def _cer(refs: list[str], hyps: list[str]) -> float:
    from torchmetrics.functional.text import char_error_rate

    if not any(refs):  # no reference characters: any read character is an error
        return float(any(hyps))
    return float(char_error_rate(hyps, refs).item())


def _wer(refs: list[str], hyps: list[str]) -> float:
    from torchmetrics.functional.text import word_error_rate

    if not any(r.split() for r in refs):
        return float(any(h.split() for h in hyps))
    return float(word_error_rate(hyps, refs).item())


def _checked(references: Sequence[str], hypotheses: Sequence[str]) -> tuple[list[str], list[str]]:
    refs, hyps = list(references), list(hypotheses)
    if len(refs) != len(hyps):
        raise DataError(
            f"references and hypotheses must pair up, got {len(refs)} references and "
            f"{len(hyps)} hypotheses"
        )
    if not refs:
        raise DataError("cannot compute CER/WER on no transcriptions; pass at least one pair")
    if any(not isinstance(t, str) for t in (*refs, *hyps)):
        raise DataError("references and hypotheses must be strings")
    return refs, hyps
