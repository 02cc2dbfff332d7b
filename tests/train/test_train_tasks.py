"""The task interface: loss, predictions and metrics checked against references."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from sklearn.metrics import accuracy_score

from dlstack.errors import ConfigError, ModelError
from dlstack.train import ClassificationTask, Task, get_task


def test_get_task_returns_the_classification_task() -> None:
    task = get_task("classification")
    assert isinstance(task, ClassificationTask) and isinstance(task, Task)
    assert task.output_kind == "logits"


def test_ctc_loss_is_torchs_ctc_loss_over_every_frame() -> None:
    torch.manual_seed(0)
    logits = torch.randn(3, 9, 5)  # (N, T, K+1): batch first
    codes = torch.tensor([[1, 2, 2], [4, 0, 0], [3, 1, 0]])  # 0-padded characters
    task = get_task("ctc")
    reference = F.ctc_loss(
        F.log_softmax(logits, -1).transpose(0, 1),
        codes,
        torch.full((3,), 9),
        torch.tensor([3, 1, 2]),
        blank=0,
    )
    assert torch.allclose(task.loss(logits, codes), reference)


def test_ctc_greedy_predictions_merge_repeats_and_drop_blanks() -> None:
    task = get_task("ctc")
    path = torch.tensor([[1, 1, 0, 1, 2, 2, 0, 0]])  # best symbol per frame
    logits = F.one_hot(path, 3).float() * 10
    assert task.predictions(logits).tolist() == [[1, 1, 2, 0, 0, 0, 0, 0]]
    assert task.error_rate(logits, torch.tensor([[1, 1, 2]])) == 0.0
    assert task.error_rate(logits, torch.tensor([[1, 2, 0]])) == pytest.approx(0.5)


def test_ctc_output_shape_is_checked() -> None:
    with pytest.raises(ModelError, match=r"\(2, T, 4\)"):
        get_task("ctc").check_outputs(torch.zeros(2, 3), 2, 3)


def test_unknown_task_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError, match="'classification'"):
        get_task("segmentation")


def test_loss_is_cross_entropy_on_logits() -> None:
    torch.manual_seed(0)
    logits, targets = torch.randn(16, 5), torch.randint(0, 5, (16,))
    task = ClassificationTask()
    assert torch.allclose(task.loss(logits, targets), F.cross_entropy(logits, targets))
    assert torch.equal(task.predictions(logits), logits.argmax(1))


def test_accuracy_matches_sklearn_over_batches() -> None:
    # Reference check: the epoch metric accumulated batch by batch equals sklearn's.
    torch.manual_seed(0)
    task = ClassificationTask()
    metrics = task.make_metrics(num_classes=7)
    all_pred, all_true = [], []
    for size in (10, 33, 1):
        logits, targets = torch.randn(size, 7), torch.randint(0, 7, (size,))
        task.update_metrics(metrics, logits, targets)
        all_pred.append(logits.argmax(1))
        all_true.append(targets)
    got = float(metrics.compute()["acc"])
    expected = accuracy_score(torch.cat(all_true).numpy(), torch.cat(all_pred).numpy())
    assert got == pytest.approx(expected)


def test_monitor_is_a_logged_validation_metric() -> None:
    # fit picks the best checkpoint by this name, so it must be one the module logs.
    task = ClassificationTask()
    logged = {"val_loss"} | {f"val_{k}" for k in task.make_metrics(3)}
    assert task.monitor in logged
    assert task.monitor_mode in ("min", "max")


def test_wrong_output_shape_is_a_model_error_with_the_fix() -> None:
    task = ClassificationTask()
    with pytest.raises(ModelError, match=r"expected logits of shape \(4, 10\)"):
        task.check_outputs(torch.zeros(4, 3), batch_size=4, num_classes=10)
    with pytest.raises(ModelError, match="single tensor"):
        task.check_outputs((torch.zeros(4, 10),), batch_size=4, num_classes=10)  # type: ignore[arg-type]
    task.check_outputs(torch.zeros(4, 10), batch_size=4, num_classes=10)
