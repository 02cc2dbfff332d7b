"""The 28 tests of "The ML Test Score" rubric (Breck et al., IEEE Big Data 2017), as data.

Pure data, no imports: ``[score.manual]`` is validated against the ids, and
``dlstack score`` grades the project on the tests.
Ids are bare TOML keys (``data-privacy = "..."``).
"""

from __future__ import annotations

__all__ = ["BANDS", "SECTIONS", "TESTS", "TEST_IDS"]

SECTIONS = ("data", "model", "infrastructure", "monitoring")

# (id, section, the rubric's title)
TESTS: tuple[tuple[str, str, str], ...] = (
    ("data-schema", "data", "Feature expectations are captured in a schema"),
    ("data-features-beneficial", "data", "All features are beneficial"),
    ("data-feature-cost", "data", "No feature's cost is too much"),
    ("data-feature-requirements", "data", "Features adhere to meta-level requirements"),
    ("data-privacy", "data", "The data pipeline has appropriate privacy controls"),
    ("data-new-features", "data", "New features can be added quickly"),
    ("data-feature-code-tested", "data", "All input feature code is tested"),
    ("model-spec-reviewed", "model", "Model specs are reviewed and submitted"),
    ("model-offline-online", "model", "Offline and online metrics correlate"),
    ("model-hyperparameters-tuned", "model", "All hyperparameters have been tuned"),
    ("model-staleness-known", "model", "The impact of model staleness is known"),
    ("model-simpler-not-better", "model", "A simpler model is not better"),
    ("model-slices", "model", "Model quality is sufficient on important data slices"),
    ("model-inclusion", "model", "The model is tested for considerations of inclusion"),
    ("infra-reproducible", "infrastructure", "Training is reproducible"),
    ("infra-spec-unit-tested", "infrastructure", "Model specs are unit tested"),
    ("infra-integration-tested", "infrastructure", "The ML pipeline is integration tested"),
    (
        "infra-validated-before-serving",
        "infrastructure",
        "Model quality is validated before serving",
    ),
    ("infra-debuggable", "infrastructure", "The model is debuggable"),
    ("infra-canary", "infrastructure", "Models are canaried before serving"),
    ("infra-rollback", "infrastructure", "Serving models can be rolled back"),
    ("monitor-dependencies", "monitoring", "Dependency changes result in notification"),
    ("monitor-data-invariants", "monitoring", "Data invariants hold for inputs"),
    ("monitor-skew", "monitoring", "Training and serving are not skewed"),
    ("monitor-staleness", "monitoring", "Models are not too stale"),
    ("monitor-numerical-stability", "monitoring", "Models are numerically stable"),
    ("monitor-compute-regression", "monitoring", "Computing performance has not regressed"),
    ("monitor-quality-regression", "monitoring", "Prediction quality has not regressed"),
)
TEST_IDS = tuple(t[0] for t in TESTS)

# (highest score in the band, inclusive; what the paper says it means). The final score is
# the minimum of the four section sums: 0, (0, 1], (1, 2], (2, 3], (3, 5], above 5.
BANDS: tuple[tuple[float, str], ...] = (
    (0.0, "More of a research project than a productionized system."),
    (
        1.0,
        "Not totally untested, but it is worth considering the possibility of serious "
        "holes in reliability.",
    ),
    (
        2.0,
        "There's been first pass at basic productionization, but additional investment "
        "may be needed.",
    ),
    (
        3.0,
        "Reasonably tested, but it's possible that more of those tests and procedures "
        "may be automated.",
    ),
    (
        5.0,
        "Strong levels of automated testing and monitoring, appropriate for "
        "mission-critical systems.",
    ),
    (float("inf"), "Exceptional levels of automated testing and monitoring."),
)
