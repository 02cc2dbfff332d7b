"""Step 7, a prioritized plan: the practice's order of work, with its concrete actions.

    make it run -> fix inputs and loss -> overfit one batch -> compare to a known result
    -> under-fitting -> over-fitting -> distribution shift -> re-balance

Only the steps with an error or a warning appear; a healthy examination gets one step
that says what comes next.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dlstack.doctor._findings import Finding

__all__ = ["INPUT_CODES", "PLAN", "RUN_CODES", "PlanStep", "make_plan"]


@dataclass(frozen=True)
class PlanStep:
    title: str
    codes: list[str]
    actions: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return {"title": self.title, "codes": self.codes, "actions": self.actions}


# The first two steps' codes: bugs that stop a model from running or from learning at
# all (the runner also reads them: any of them explains a failed single batch).
RUN_CODES = ("wont-run", "shape-broadcast", "input-dtype", "nan-inf")
INPUT_CODES = (
    "input-scale",
    "softmax-before-loss",
    "train-eval-mode",
    "no-grad-flow",
    "bad-init-loss",
    "ctc-too-few-frames",
)

# (title, the codes it addresses, the practice's standard actions for it)
PLAN: list[tuple[str, tuple[str, ...], tuple[str, ...]]] = [
    ("Make the model run", RUN_CODES, ()),
    ("Fix the inputs and the loss", INPUT_CODES, ()),
    (
        "Overfit a single batch",
        (
            "overfit-error-up",
            "overfit-explodes",
            "overfit-oscillates",
            "overfit-plateau",
            "ctc-blank-plateau",
            "lr-too-high",
            "lr-too-low",
        ),
        (),
    ),
    (
        "Compare to a known result",
        ("worse-than-baseline", "label-noise"),
        ("debug until the model beats the simple baselines on the same data",),
    ),
    (
        "Address under-fitting",
        ("underfitting",),
        (
            "make the model bigger (more layers, more units per layer)",
            "reduce regularization",
            "error analysis",
            "choose a stronger architecture (e.g. LeNet -> ResNet)",
            "tune hyperparameters (learning rate first)",
            "add features",
        ),
    ),
    (
        "Address over-fitting",
        ("overfitting",),
        (
            "add more training data",
            "add normalization (batch norm, layer norm)",
            "add data augmentation",
            "increase regularization (dropout, L2, weight decay)",
            "error analysis",
            "choose a different architecture",
            "tune hyperparameters",
            "early stopping",
            "remove features",
            "reduce the model size",
        ),
    ),
    (
        "Address distribution shift",
        ("distribution-shift",),
        (
            "analyze the test-val errors and collect more training data like them",
            "synthesize training data like the test-val errors",
            "apply domain adaptation between the train and test distributions",
        ),
    ),
    (
        "Re-balance the datasets",
        ("val-overfitting", "class-imbalance"),
        (
            "re-collect the validation set (larger, fresh examples) when test is much worse than "
            "test-val",
            "re-balance classes: collect or re-sample the rare ones, or weight the loss",
        ),
    ),
]


def make_plan(findings: list[Finding]) -> list[PlanStep]:
    active = [f for f in findings if f.severity != "info"]
    plan = []
    for title, codes, actions in PLAN:
        hits = [f for f in active if f.code in codes]
        if not hits:
            continue
        steps = list(dict.fromkeys([f.next_step for f in hits if f.next_step] + list(actions)))
        plan.append(PlanStep(title, list(dict.fromkeys(f.code for f in hits)), steps))
    if not plan:
        plan.append(
            PlanStep(
                "Nothing blocks training",
                [],
                [
                    "train the full model (dlstack train), then tune its hyperparameters",
                    "give human_error= and a test_val set to complete the bias-variance picture",
                ],
            )
        )
    return plan
