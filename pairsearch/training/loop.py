"""One training run: arch + params + data split + seed → per-epoch history.

Tuning and the final report both call :func:`train_run`; nothing here knows about Optuna.
What makes it faster than the textbook loop on a CPU (``bench/training_speed.py`` measures
each lever): the whole data set lives in tensors (no DataLoader), the model is
``channels_last`` (oneDNN's fast convolution layout), Adam is one fused kernel, and freed
activation memory is kept for the next step instead of being page-faulted back in.
"""

from __future__ import annotations

import ctypes
import functools
import math
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import torch

from pairsearch.data.pairs import DataChoice, PairSet, Split, final_split
from pairsearch.errors import PairsearchError
from pairsearch.training.models import build_model, count_parameters

EVAL_BATCH_SIZE = 128  # pairs: bounds the activation memory that keep_freed_memory then keeps
MEMORY_FORMAT = torch.channels_last  # oneDNN's fast layout for these convolutions (used on CPU)


@dataclass(frozen=True)
class EpochRecord:
    epoch: int
    train_loss: float
    train_accuracy: float
    eval_accuracy: float
    digit_accuracy: float | None
    seconds: float


@dataclass
class RunResult:
    arch: str
    params: dict
    seed: int
    epochs: int
    n_parameters: int
    status: str = "completed"  # or "diverged"
    history: list[EpochRecord] = field(default_factory=list)

    @property
    def final_accuracy(self) -> float | None:
        """Evaluation accuracy after the last epoch (never the best epoch); None if diverged."""
        if self.status != "completed" or not self.history:
            return None
        return self.history[-1].eval_accuracy

    def history_dicts(self) -> list[dict]:
        return [asdict(record) for record in self.history]


def resolve_device(device: str) -> torch.device:
    """``auto`` → CUDA when present, else CPU; anything else must be a device torch knows."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError:
        raise PairsearchError(f"unknown device {device!r}; use auto, cpu or cuda") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise PairsearchError("--device cuda was asked for but no CUDA GPU is available")
    return resolved


def set_threads(threads: int) -> None:
    """One torch thread per worker process by default: workers, not threads, use the cores."""
    if threads < 1:
        raise PairsearchError(f"--threads must be at least 1, got {threads}")
    torch.set_num_threads(threads)


def train_run(
    *,
    arch: str,
    params: dict,
    split: Split,
    epochs: int,
    seed: int,
    device: torch.device | str = "cpu",
    on_epoch: Callable[[EpochRecord], None] | None = None,
    on_start: Callable[[RunResult], None] | None = None,
    augment: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> RunResult:
    """Train ``arch`` with ``params`` on ``split.train``; score ``split.evaluation`` every epoch.

    ``on_epoch`` is called after each epoch (tuning reports and prunes there, by raising);
    ``on_start`` once the model is built (tuning records its size there, pruned or not).
    ``augment`` (:func:`pairsearch.training.augment.make_augment`) transforms each training minibatch's
    images; evaluation pairs are never augmented.
    A NaN or infinite loss ends the run with status ``diverged``. Runs are repeatable bit for
    bit for a seed at a fixed thread count.
    """
    keep_freed_memory()
    torch.manual_seed(seed)
    model = build_model(arch=arch, params=params).to(device)
    if torch.device(device).type == "cpu":
        model = model.to(memory_format=MEMORY_FORMAT)
    train, evaluation = split.train.to(device), split.evaluation.to(device)
    batch_size = params["batch_size"]
    steps_per_epoch = -(-len(train) // batch_size)
    optimizer = Adam(
        list(model.parameters()), lr=params["lr"], weight_decay=params["weight_decay"],
        total_steps=epochs * steps_per_epoch,
    )
    shuffler = torch.Generator().manual_seed(seed)
    result = RunResult(arch, dict(params), seed, epochs, count_parameters(model))
    if on_start is not None:
        on_start(result)

    for epoch in range(1, epochs + 1):
        started = time.perf_counter()
        model.train()
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), device=device)
        for batch in torch.randperm(len(train), generator=shuffler).to(device).split(batch_size):
            images = train.images[batch]
            output = model(images if augment is None else augment(images))
            loss = model.loss(output, train.targets[batch], train.classes[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            loss_sum += loss.detach() * len(batch)
            correct += ((output.compare_logits.detach() > 0).float() == train.targets[batch]).sum()
        train_loss = loss_sum.item() / len(train)
        if not math.isfinite(train_loss):
            result.status = "diverged"
            return result
        eval_accuracy, digit_accuracy = evaluate(model=model, pairs=evaluation)
        record = EpochRecord(
            epoch=epoch,
            train_loss=train_loss,
            train_accuracy=correct.item() / len(train),
            eval_accuracy=eval_accuracy,
            digit_accuracy=digit_accuracy,
            seconds=time.perf_counter() - started,
        )
        result.history.append(record)
        if on_epoch is not None:
            on_epoch(record)
    return result


class Adam:
    """Adam (with L2 weight decay, as ``torch.optim.Adam``) and a cosine decay of the rate to zero.

    Why not ``torch.optim``: its first ``step`` imports ``torch._dynamo``, about 2 s of every
    worker's start-up on a CPU box. The update is the kernel ``torch.optim.Adam(fused=True)``
    runs (one pass over each tensor instead of six); a test checks it against
    ``torch.optim.Adam`` + ``CosineAnnealingLR``. Cosine decay: the last epoch, which is what
    we report, is a settled one.
    """

    def __init__(
        self, parameters: list[torch.nn.Parameter], *, lr: float, weight_decay: float, total_steps: int,
        betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
    ) -> None:
        self.parameters = parameters
        self.base_lr, self.weight_decay, self.total_steps = lr, weight_decay, max(1, total_steps)
        self.beta1, self.beta2, self.eps = betas[0], betas[1], eps
        self.steps = 0
        self.first_moments = [torch.zeros_like(p) for p in parameters]
        self.second_moments = [torch.zeros_like(p) for p in parameters]
        # Per tensor, as torch.optim: a parameter without a gradient skips the step.
        self.step_counts = [torch.zeros((), device=p.device) for p in parameters]

    def zero_grad(self) -> None:
        for parameter in self.parameters:
            parameter.grad = None

    def current_lr(self) -> float:
        """The rate for the next step: ``lr · (1 + cos(π·t/T)) / 2``, as CosineAnnealingLR."""
        return self.base_lr * (1 + math.cos(math.pi * self.steps / self.total_steps)) / 2

    @torch.no_grad()
    def step(self) -> None:
        lr = self.current_lr()
        self.steps += 1
        live = [i for i, parameter in enumerate(self.parameters) if parameter.grad is not None]
        counts = [self.step_counts[i] for i in live]
        torch._foreach_add_(counts, 1)
        torch._fused_adam_(
            [self.parameters[i] for i in live], [self.parameters[i].grad for i in live],
            [self.first_moments[i] for i in live], [self.second_moments[i] for i in live], [], counts,
            lr=lr, beta1=self.beta1, beta2=self.beta2, weight_decay=self.weight_decay, eps=self.eps,
            amsgrad=False, maximize=False,
        )


def evaluate(*, model: torch.nn.Module, pairs: PairSet) -> tuple[float, float | None]:
    """Comparison accuracy and (where predicted) digit accuracy, in eval mode."""
    model.eval()
    compare_correct, digit_correct, has_digits = 0, 0, False
    with torch.inference_mode():
        for start in range(0, len(pairs), EVAL_BATCH_SIZE):
            stop = start + EVAL_BATCH_SIZE
            output = model(pairs.images[start:stop])
            predicted = (output.compare_logits > 0).float()
            compare_correct += (predicted == pairs.targets[start:stop]).sum()
            if output.digit_logits is not None:
                has_digits = True
                digit_correct += (output.digit_logits.argmax(dim=2) == pairs.classes[start:stop]).sum()
    compare_accuracy = int(compare_correct) / len(pairs)
    return compare_accuracy, (int(digit_correct) / (2 * len(pairs)) if has_digits else None)


@functools.cache
def keep_freed_memory() -> None:
    """Have glibc keep freed memory for reuse instead of returning it to the OS (once per process).

    Each step frees and re-allocates the same megabyte-sized activations; by default glibc
    unmaps or trims them, and every step then page-faults them back in (about 1400 faults a
    step for the small ``base`` config). A worker process only trains, so keeping its peak
    heap is the right trade.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc (musl): its allocator, its behaviour
        return
    m_trim_threshold, m_mmap_threshold = -1, -3  # from glibc's malloc.h
    # Setting either turns glibc's adaptive threshold off: set the trim threshold only when
    # the mmap threshold took.
    if libc.mallopt(m_mmap_threshold, 1 << 30):
        libc.mallopt(m_trim_threshold, 2**31 - 1)


def train_final_protocol(
    *, arch: str, params: dict, data: DataChoice, epochs: int, seed: int, device: str, threads: int,
    announce: Callable[[str], None], on_epoch: Callable[[EpochRecord], None] | None = None,
) -> RunResult:
    """One run on the final protocol (``pairsearch train``): fresh pairs for ``seed``, test accuracy.

    Args:
        arch: A registered arch.
        params: Its checked params (see :func:`pairsearch.training.models.resolve_params`).
        data: The data source and folder.
        epochs: Epochs to train.
        seed: Draws the training and test pairs and the initial weights.
        device: A device torch accepted.
        threads: Torch threads for this process.
        announce: Told which source ``--dataset auto`` chose, once the data loaded.
        on_epoch: Called after each epoch.

    Returns:
        The run's per-epoch history and status.
    """
    set_threads(threads)
    pools = data.load()
    if data.announcement():
        announce(data.announcement())
    split = final_split(pools=pools, seed=seed)
    return train_run(arch=arch, params=params, split=split, epochs=epochs, seed=seed,
                     device=torch.device(device), on_epoch=on_epoch)
