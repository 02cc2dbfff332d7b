"""What changed between two data versions: added, removed, relabeled, moved between splits."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["VersionDiff", "diff_rows"]

EXAMPLES_SHOWN = 5  # a few examples of each kind of change, enough to see what happened


@dataclass(frozen=True)
class VersionDiff:
    added: int
    removed: int
    relabeled: int
    moved: int
    unchanged: int
    # kind -> a few (example id, before, after) for people to look at
    examples: dict[str, list[tuple[str, str, str]]] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return bool(self.added or self.removed or self.relabeled or self.moved)


def diff_rows(a: dict[str, tuple[str, str]], b: dict[str, tuple[str, str]]) -> VersionDiff:
    """Compare two versions given as example id -> (label, split)."""
    examples: dict[str, list[tuple[str, str, str]]] = {
        k: [] for k in ("added", "removed", "relabeled", "moved")
    }

    def note(kind: str, key: str, before: str, after: str) -> None:
        if len(examples[kind]) < EXAMPLES_SHOWN:
            examples[kind].append((key, before, after))

    added = removed = relabeled = moved = unchanged = 0
    for key in sorted(b.keys() - a.keys()):
        added += 1
        note("added", key, "", f"{b[key][0]} ({b[key][1]})")
    for key in sorted(a.keys() - b.keys()):
        removed += 1
        note("removed", key, f"{a[key][0]} ({a[key][1]})", "")
    for key in sorted(a.keys() & b.keys()):
        (la, sa), (lb, sb) = a[key], b[key]
        if la != lb:
            relabeled += 1
            note("relabeled", key, la, lb)
        if sa != sb:
            moved += 1
            note("moved", key, sa, sb)
        if la == lb and sa == sb:
            unchanged += 1
    return VersionDiff(added, removed, relabeled, moved, unchanged, examples)
