"""One training step at a realistic catalogue: our step next to a reference-style step.

    python benchmarks/train_step.py                       # CPU, V = 1 M, fp32 and bf16 (~3 min)
    python benchmarks/train_step.py --device cuda --batch 4096 --precision bf16

Rows ("variants"), each timed over ``--steps`` steps after ``--warmup`` steps:

- ``ours/dense``: the library's step as `negrec_lib.train.Trainer` runs it with the settings this
  benchmark recommends: `SessionData.train_batches` (indexing tensors already on the device),
  `compute_losses` under autocast (paper model: 2 layers, 8 heads, d 128, ff 128, dropout 0.2,
  causal; sampled softmax, batch targets + 1000 uniform negatives), ``zero_grad(set_to_none=
  False)``, backward, `negrec_lib.optim.clip_grad_norm_` (5), dense Adam (``fused=True`` where
  available) from `negrec_lib.optim.make_optimizer`. The paper's optimiser.
- ``ours/dense+skip``: the same with the skip InfoNCE loss, lambda = 1.
- ``ours/lazy`` and ``ours/lazy+skip``: ``train.sparse_embeddings=true``: sparse table
  gradients and `negrec_lib.optim.LazyAdam` (only a batch's rows are updated; NOT the same
  optimiser as Adam).
- ``ours/dense, Trainer as-is`` (fp32 only): the dense step with what train.py did when this
  was written: ``zero_grad(set_to_none=True)``, ``torch.nn.utils.clip_grad_norm_``, default
  ``torch.optim.Adam`` (on the CPU a per-tensor loop that makes several passes over the table).
- ``reference``: what the paper's reference code does, written from the specification page
  (book/paper.md): a ``Dataset`` whose ``__getitem__`` builds one padded session from Python lists,
  a ``DataLoader`` (default collate, ``num_workers=0``), PyTorch's ``nn.TransformerEncoder``
  (post-LN, causal mask, no padding mask), logits over the WHOLE catalogue [N, V], then the
  candidate columns (unique batch targets + 1000 uniform draws), log-softmax over them, NLL;
  backward, clip 5, default Adam. N counts only the rows that have a target (generous to the
  reference: padded rows are not scored). When [N, V] does not fit in memory the reference runs at a
  smaller batch (printed).

Reported per row: median step time, sessions/s, ratio to the reference (same precision),
time per phase (data, forward, backward incl. zero_grad, clip, optimiser), analytic model FLOPs
and the achieved fraction of a large matrix product measured in the same run, and peak memory
(RSS on the CPU, reset per row through /proc/self/clear_refs where the kernel allows it;
``torch.cuda.max_memory_allocated`` on a GPU). Timing: ``time.perf_counter`` on the CPU, CUDA
events plus ``torch.cuda.synchronize`` per step on a GPU.

Shared machines: each row also reports ``wait%``, the time its threads spent runnable but
waiting for a core (/proc/self/task/*/schedstat), and the process CPU time per step. When other
processes compete for the cores, wall times inflate unevenly across rows; the CPU-time ratio
(``x ref cpu``) is then the steadier comparison, and a warning is printed. Quote wall-clock
numbers from a run whose rows all show a small wait%.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import platform
import re
import resource
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from negrec_lib.config import LossConfig, ModelConfig, TrainConfig
from negrec_lib.data.sessions import SessionData
from negrec_lib.losses import UniformSampler, compute_losses
from negrec_lib.model import SessionEncoder
from negrec_lib.optim import clip_grad_norm_, make_optimizer
from negrec_lib.provenance import provenance
from negrec_lib.tokens import N_RESERVED, PAD_ID

PHASES = ("data", "forward", "backward", "clip", "optimizer")
MAX_LENGTH = 20


# ---------------------------------------------------------------------- synthetic sessions
def synthetic_arrays(n_sessions: int, vocab: int, seed: int) -> dict[str, np.ndarray]:
    """MSSD-shaped sessions: lengths 10-20 (45% of 20), skewed track popularity, skip strengths.

    Track ids: half the plays log-uniform over the catalogue (a Zipf-like head), half uniform
    (a long tail), so batches hold both repeated and rare tracks. Skip strength 0..3 with
    P(strength >= 2) = 0.5 (book/paper.md section 6 calibration: skip_2 rate 0.41-0.49).
    """
    rng = np.random.default_rng(seed)
    n_tracks = vocab - N_RESERVED
    length = np.where(rng.random(n_sessions) < 0.45, 20, rng.integers(10, 20, n_sessions))
    shape = (n_sessions, MAX_LENGTH)
    head = np.floor(np.exp(rng.random(shape) * math.log(n_tracks))).astype(np.int64) - 1
    tail = rng.integers(0, n_tracks, shape)
    tracks = N_RESERVED + np.where(rng.random(shape) < 0.5, head, tail)
    real = np.arange(MAX_LENGTH)[None, :] < length[:, None]
    tracks = np.where(real, tracks, PAD_ID).astype(np.int32)
    skip = rng.choice(4, size=shape, p=[0.4, 0.1, 0.15, 0.35]).astype(np.int8) * real
    return {"tracks": tracks, "skip": skip.astype(np.int8), "length": length.astype(np.int16)}


def synthetic_session_data(
    arrays: dict[str, np.ndarray], vocab: int, device: torch.device
) -> SessionData:
    """A `SessionData` laid out as `negrec prepare` writes it (paper split: leave-last-out)."""
    length = torch.from_numpy(arrays["length"].astype(np.int64))
    n = len(length)
    tensors = {
        "tracks": torch.from_numpy(arrays["tracks"]),
        "skip": torch.from_numpy(arrays["skip"]),
        "context": torch.zeros(n, MAX_LENGTH, dtype=torch.int8),
        "length": length.to(torch.int16),
        "day": torch.zeros(n, dtype=torch.int32),
        "offset": torch.zeros(n, dtype=torch.int16),
    }
    rows = torch.arange(n)
    splits = {
        "train_rows": rows,
        "train_end": length - 2,
        "valid_rows": rows,
        "valid_pos": length - 2,
        "test_rows": rows,
        "test_pos": length - 1,
    }
    popularity = torch.bincount(tensors["tracks"].flatten().long(), minlength=vocab)
    manifest = {"config": {"skip_strength": 2}, "vocab_size": vocab}
    return SessionData(tensors, splits, popularity, manifest).to(device)


def endless_batches(data: SessionData, batch: int, seed: int) -> Iterator:
    """`SessionData.train_batches`, epoch after epoch (full batches only)."""
    epoch = 0
    while True:
        g = torch.Generator().manual_seed(seed * 1000 + epoch)
        for b in data.train_batches(batch, g):
            if len(b.rows) == batch:
                yield b
        epoch += 1


# ---------------------------------------------------------------------- reference-style step
class ReferenceSessions(torch.utils.data.Dataset):
    """Per-sample loading from Python lists, as the reference code does."""

    def __init__(self, arrays: dict[str, np.ndarray]) -> None:
        ends = (arrays["length"].astype(np.int64) - 2).tolist()  # same training cut
        self.sessions = [row[:e] for row, e in zip(arrays["tracks"].tolist(), ends)]

    def __len__(self) -> int:
        return len(self.sessions)

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor]:
        s = self.sessions[i]
        pad = MAX_LENGTH - len(s)
        inputs = s + [PAD_ID] * pad
        targets = s[1:] + [PAD_ID] * (pad + 1)
        return torch.tensor(inputs), torch.tensor(targets)


class ReferenceModel(nn.Module):
    """PyTorch's post-LN TransformerEncoder, causal mask, no padding mask, tied output table."""

    def __init__(
        self,
        vocab: int,
        d: int = 128,
        heads: int = 8,
        layers: int = 2,
        ff: int = 128,
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        self.item_emb = nn.Embedding(vocab, d, padding_idx=PAD_ID)
        self.pos_emb = nn.Embedding(MAX_LENGTH, d)
        self.drop = nn.Dropout(dropout)
        layer = nn.TransformerEncoderLayer(d, heads, ff, dropout, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.head = nn.Sequential(nn.Linear(d, d), nn.GELU())

    def forward(self, tracks: Tensor) -> Tensor:
        L = tracks.shape[1]
        causal = torch.triu(torch.full((L, L), float("-inf"), device=tracks.device), diagonal=1)
        x = self.drop(self.item_emb(tracks) + self.pos_emb(torch.arange(L, device=tracks.device)))
        return self.head(self.encoder(x, mask=causal))  # [B, L, D]


def reference_loss(
    model: ReferenceModel, inputs: Tensor, targets: Tensor, n_negatives: int, vocab: int
) -> Tensor:
    """Full logits over the catalogue, then the sampled columns, log-softmax, NLL."""
    hidden = model(inputs)  # [B, L, D]
    rows = targets != PAD_ID
    h, t = hidden[rows], targets[rows]  # [N, D], [N]
    logits = h @ model.item_emb.weight.T  # [N, V]: the waste
    uniq = torch.unique(t)
    negatives = torch.randint(N_RESERVED, vocab, (n_negatives,), device=t.device)
    cols = torch.cat([uniq, negatives])  # [C]
    log_p = logits[:, cols].float().log_softmax(-1)  # [N, C]
    return F.nll_loss(log_p, torch.searchsorted(uniq, t))


# ---------------------------------------------------------------------- FLOPs
def encoder_flops(B: int, L: int, d: int = 128, ff: int = 128, layers: int = 2) -> float:
    """Forward matmul FLOPs of the encoder and the prediction head (2 per multiply-add)."""
    T = B * L
    per_layer = 2 * T * d * 3 * d + 2 * 2 * B * L * L * d + 2 * T * d * d + 2 * 2 * T * d * ff
    return layers * per_layer + 2 * T * d * d


def step_flops(B: int, L: int, n_rows: int, n_cols: int, skip: bool, d: int = 128) -> float:
    """Training FLOPs (forward x 3) of our step: encoder, head, candidate scoring, skip cosines."""
    fwd = encoder_flops(B, L, d) + 2 * n_rows * n_cols * d
    if skip:
        fwd += 2 * B * L * L * d + 2 * B * L * d  # [B, L, L] cosines + positives
    return 3.0 * fwd


# ---------------------------------------------------------------------- timing helpers
class PhaseClock:
    """Marks phase boundaries: perf_counter on the CPU, CUDA events on a GPU (read after sync)."""

    def __init__(self, device: torch.device) -> None:
        self.cuda = device.type == "cuda"
        self.marks: list[Any] = []

    def mark(self) -> None:
        if self.cuda:
            ev = torch.cuda.Event(enable_timing=True)
            ev.record()
            self.marks.append(ev)
        else:
            self.marks.append(time.perf_counter())

    def phase_ms(self) -> list[float]:
        if self.cuda:
            torch.cuda.synchronize()
            out = [a.elapsed_time(b) for a, b in zip(self.marks, self.marks[1:])]
        else:
            out = [(b - a) * 1e3 for a, b in zip(self.marks, self.marks[1:])]
        self.marks = []
        return out


def reset_peak_memory(device: torch.device) -> str:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
        return "torch.cuda.max_memory_allocated"
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return "VmHWM (reset per row)"
    except OSError:
        return "ru_maxrss (process peak so far)"


def peak_memory_gb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**30
    try:
        status = Path("/proc/self/status").read_text()
        return int(re.search(r"VmHWM:\s+(\d+)", status).group(1)) / 2**20
    except (OSError, AttributeError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def runqueue_wait_s() -> float:
    """Seconds this process's threads spent runnable but waiting for a CPU (NaN if unknown).

    From /proc/self/task/*/schedstat (field 2). Other processes competing for the cores show up
    here: a row whose wait is a sizeable fraction of its wall time was measured on a busy machine.
    """
    total = 0
    try:
        for f in Path("/proc/self/task").glob("*/schedstat"):
            total += int(f.read_text().split()[1])
    except (OSError, ValueError, IndexError):
        return float("nan")
    return total / 1e9


def available_memory_bytes(device: torch.device) -> float:
    if device.type == "cuda":
        return float(torch.cuda.mem_get_info(device)[0])
    try:
        text = Path("/proc/meminfo").read_text()
        return int(re.search(r"MemAvailable:\s+(\d+)", text).group(1)) * 1024.0
    except (OSError, AttributeError):
        return float("inf")


def measure_gemm(device: torch.device, n: int, dtype: torch.dtype, reps: int) -> float:
    """FLOP/s of an n x n x n torch.mm in ``dtype`` (median of ``reps``)."""
    a = torch.randn(n, n, device=device).to(dtype)
    b = torch.randn(n, n, device=device).to(dtype)
    torch.mm(a, b)
    times = []
    for _ in range(reps):
        clock = PhaseClock(device)
        clock.mark()
        torch.mm(a, b)
        clock.mark()
        times.append(clock.phase_ms()[0] / 1e3)
    return 2.0 * n**3 / statistics.median(times)


def autocast(device: torch.device, precision: str):
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")


# ---------------------------------------------------------------------- runners
@dataclass
class Row:
    name: str
    precision: str
    batch: int
    step_ms: list[float] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)  # process CPU time (all threads) per step
    phases_ms: dict[str, list[float]] = field(default_factory=lambda: {p: [] for p in PHASES})
    flops: list[float] = field(default_factory=list)
    peak_gb: float = float("nan")
    wait_share: float = float("nan")  # run-queue wait / wall time over the timed steps
    note: str = ""

    @property
    def median_ms(self) -> float:
        return statistics.median(self.step_ms)

    @property
    def sessions_per_s(self) -> float:
        return self.batch / (self.median_ms / 1e3)

    def record(self, phases: list[float], cpu0: float, flops: float) -> None:
        """Keep one timed step: its phase times, wall and CPU time, and its FLOP count."""
        self.cpu_ms.append((time.process_time() - cpu0) * 1e3)
        self.step_ms.append(sum(phases))
        for p, ms in zip(PHASES, phases):
            self.phases_ms[p].append(ms)
        self.flops.append(flops)

    def phase_share(self) -> dict[str, float]:
        med = {p: statistics.median(v) for p, v in self.phases_ms.items() if v}
        total = sum(med.values()) or 1.0
        return {p: m / total for p, m in med.items()}


def run_ours(
    name: str,
    data: SessionData,
    args: argparse.Namespace,
    device: torch.device,
    precision: str,
    skip: bool,
    sparse: bool,
    trainer_as_is: bool = False,
    scatter: bool = False,
) -> Row:
    torch.manual_seed(args.seed)
    model = SessionEncoder(ModelConfig(), data.vocab_size).to(device).train()
    loss_cfg = LossConfig(n_negatives=args.negatives, skip_weight=1.0 if skip else 0.0)
    sampler = UniformSampler(data.vocab_size)
    if trainer_as_is:
        opt = torch.optim.Adam(model.parameters(), lr=0.005)
        clip: Callable = torch.nn.utils.clip_grad_norm_
    else:
        # scatter: the Trainer's choice for a large table on one CPU process (ScatterAdam)
        cfg = TrainConfig(lr=0.005, sparse_embeddings=sparse)
        opt = make_optimizer(model, cfg, sparse_table_ok=scatter)
        clip = clip_grad_norm_
    set_to_none = trainer_as_is or sparse
    gen = torch.Generator(device=device).manual_seed(args.seed + 1)
    batches = endless_batches(data, args.batch, args.seed)
    row = Row(name, precision, args.batch)
    mem_kind = reset_peak_memory(device)
    params = list(model.parameters())
    for i in range(args.warmup + args.steps):
        if i == args.warmup:
            wait0, wall0 = runqueue_wait_s(), time.perf_counter()
        clock = PhaseClock(device)
        cpu0 = time.process_time()
        clock.mark()
        b = next(batches)
        clock.mark()
        with autocast(device, precision):
            out = compute_losses(
                model, b.tracks, b.lengths, b.skipped, None, loss_cfg, sampler, gen
            )
        clock.mark()
        opt.zero_grad(set_to_none=set_to_none)
        out["total"].backward()
        clock.mark()
        clip(params, 5.0)
        clock.mark()
        opt.step()
        clock.mark()
        phases = clock.phase_ms()
        if i >= args.warmup:
            n_rows = int((b.lengths - 1).clamp(min=0).sum())
            targets = b.tracks[:, 1:][
                torch.arange(b.tracks.shape[1] - 1, device=device) < (b.lengths - 1)[:, None]
            ]
            n_cols = int(torch.unique(targets).numel()) + args.negatives
            row.record(
                phases, cpu0, step_flops(args.batch, b.tracks.shape[1], n_rows, n_cols, skip)
            )
    row.wait_share = (runqueue_wait_s() - wait0) / (time.perf_counter() - wall0)
    if not math.isfinite(float(out["total"].detach())):
        raise RuntimeError(f"{name}: non-finite loss")
    row.peak_gb = peak_memory_gb(device)
    row.note = mem_kind
    del model, opt, out
    return row


def reference_batch(args: argparse.Namespace, device: torch.device, precision: str) -> int:
    """The largest batch <= --batch whose [N, V] logits fit in 70% of the free memory.

    The logits die when the candidate columns are taken; backward then builds their gradient,
    one [N, V] buffer at a time (+25% margin), next to the table, its gradient and Adam's moments.
    """
    bytes_per = 2 if precision == "bf16" else 4
    free = available_memory_bytes(device) * 0.7
    batch = args.ref_batch or args.batch
    while batch > 1:
        rows = batch * 15  # ~targets per session
        need = 1.25 * rows * args.vocab * bytes_per + 5 * args.vocab * 128 * 4
        if need <= free:
            break
        batch //= 2
    return batch


def run_reference(
    arrays: dict[str, np.ndarray], args: argparse.Namespace, device: torch.device, precision: str
) -> Row:
    torch.manual_seed(args.seed)
    batch = reference_batch(args, device, precision)
    model = ReferenceModel(args.vocab).to(device).train()
    opt = torch.optim.Adam(model.parameters(), lr=0.005)
    loader = torch.utils.data.DataLoader(
        ReferenceSessions(arrays), batch_size=batch, shuffle=True, num_workers=0, drop_last=True
    )
    row = Row("reference", precision, batch)
    if batch != args.batch:
        row.note = f"batch reduced from {args.batch} to {batch} so that [N, V] logits fit"
    mem_kind = reset_peak_memory(device)
    it = iter(loader)
    for i in range(args.ref_warmup + args.ref_steps):
        if i == args.ref_warmup:
            wait0, wall0 = runqueue_wait_s(), time.perf_counter()
        clock = PhaseClock(device)
        cpu0 = time.process_time()
        clock.mark()
        try:
            inputs, targets = next(it)
        except StopIteration:
            it = iter(loader)
            inputs, targets = next(it)
        inputs, targets = inputs.to(device), targets.to(device)
        clock.mark()
        with autocast(device, precision):
            loss = reference_loss(model, inputs, targets, args.negatives, args.vocab)
        clock.mark()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        clock.mark()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        clock.mark()
        opt.step()
        clock.mark()
        phases = clock.phase_ms()
        if i >= args.ref_warmup:
            n_rows = int((targets != PAD_ID).sum())
            row.record(
                phases,
                cpu0,
                3.0 * (encoder_flops(batch, inputs.shape[1]) + 2 * n_rows * args.vocab * 128),
            )
    row.wait_share = (runqueue_wait_s() - wait0) / (time.perf_counter() - wall0)
    row.peak_gb = peak_memory_gb(device)
    row.note = "; ".join(x for x in (row.note, mem_kind) if x)
    del model, opt, loss
    return row


# ---------------------------------------------------------------------- report
def hardware(device: torch.device) -> dict[str, Any]:
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
    }
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
        model = re.search(r"model name\s*:\s*(.*)", cpuinfo)
        flags = re.search(r"flags\s*:\s*(.*)", cpuinfo)
        info["cpu"] = model.group(1).strip() if model else platform.processor()
        if flags:
            have = set(flags.group(1).split())
            info["cpu_flags"] = sorted(
                have & {"avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile", "avx512_vnni"}
            )
    except OSError:
        info["cpu"] = platform.processor()
    try:
        mem = Path("/proc/meminfo").read_text()
        info["memory_gb"] = int(re.search(r"MemTotal:\s+(\d+)", mem).group(1)) / 2**20
    except (OSError, AttributeError):
        pass
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
        info["gpu_memory_gb"] = torch.cuda.get_device_properties(device).total_memory / 2**30
        info["cuda"] = torch.version.cuda
    return info


def bound_of(row: Row) -> str:
    share = row.phase_share()
    table_side = share.get("optimizer", 0) + share.get("clip", 0)
    compute = share.get("forward", 0) + share.get("backward", 0)
    top = max(share, key=share.get)
    return (
        f"{top} {100 * share[top]:.0f}% (fwd+bwd {100 * compute:.0f}%, "
        f"clip+optimizer {100 * table_side:.0f}%, data {100 * share.get('data', 0):.0f}%)"
    )


def cpu_ratio(r: Row, ref: dict[str, Row]) -> float:
    """Speed-up measured in process CPU time per session (robust when other processes compete)."""
    if r.precision not in ref or r.name == "reference":
        return float("nan")
    other = ref[r.precision]
    return (statistics.median(other.cpu_ms) / other.batch) / (statistics.median(r.cpu_ms) / r.batch)


def print_table(rows: list[Row], peaks: dict[str, float], ref: dict[str, Row]) -> None:
    head = (
        f"{'variant':30} {'prec':5} {'batch':>5} {'ms/step':>9} {'sess/s':>9} {'x ref':>7} "
        f"{'data':>6} {'fwd':>6} {'bwd':>6} {'clip':>6} {'opt':>6} {'GFLOP':>7} "
        f"{'GFLOP/s':>8} {'%peak':>6} {'peak GB':>8} {'wait%':>6} {'cpu ms':>8} {'x ref cpu':>9}"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        med = {p: statistics.median(v) for p, v in r.phases_ms.items()}
        flops = statistics.median(r.flops)
        achieved = flops / (r.median_ms / 1e3)
        ratio = (
            r.sessions_per_s / ref[r.precision].sessions_per_s
            if r.precision in ref and r.name != "reference"
            else float("nan")
        )
        print(
            f"{r.name:30} {r.precision:5} {r.batch:5d} {r.median_ms:9.1f} {r.sessions_per_s:9.0f} "
            f"{ratio:7.1f} {med['data']:6.1f} {med['forward']:6.1f} {med['backward']:6.1f} "
            f"{med['clip']:6.1f} {med['optimizer']:6.1f} {flops / 1e9:7.1f} {achieved / 1e9:8.1f} "
            f"{100 * achieved / peaks[r.precision]:6.1f} {r.peak_gb:8.2f} "
            f"{100 * r.wait_share:6.1f} "
            f"{statistics.median(r.cpu_ms):8.0f} {cpu_ratio(r, ref):9.1f}"
        )
    busy = [r for r in rows if r.wait_share > 0.10]
    if busy:
        print(
            f"\nWARNING: {len(busy)} row(s) waited > 10% of their time for a CPU (wait%): other "
            "processes competed for the cores; rerun on a quiet machine before quoting them."
        )
    print()
    print("What bounds each step (share of the step's median phase times):")
    for r in rows:
        print(
            f"  {r.name:30} {r.precision:5} {bound_of(r)}"
            + (f"  [{r.note}]" if "reduced" in r.note else "")
        )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    ap.add_argument("--vocab", type=int, default=1_000_000, help="ids incl. the 3 reserved ones")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--steps", type=int, default=10, help="timed steps of each of our rows")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--ref-steps", type=int, default=2, help="timed steps of the reference")
    ap.add_argument("--ref-warmup", type=int, default=1)
    ap.add_argument(
        "--ref-batch",
        type=int,
        default=0,
        help="reference batch (0: --batch, halved until its [N, V] logits fit in memory)",
    )
    ap.add_argument("--no-reference", action="store_true")
    ap.add_argument("--no-lazy", action="store_true", help="skip the sparse_embeddings rows")
    ap.add_argument("--no-as-is", action="store_true", help="skip the 'Trainer as-is' row")
    ap.add_argument("--sessions", type=int, default=50_000)
    ap.add_argument("--negatives", type=int, default=1000)
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    ap.add_argument("--precision", default="fp32,bf16", help="comma-separated: fp32, bf16")
    ap.add_argument("--gemm-size", type=int, default=4096)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="results/bench_train_step.json")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        ap.error("--device cuda, but CUDA is not available")
    precisions = [p.strip() for p in args.precision.split(",") if p.strip()]
    if not set(precisions) <= {"fp32", "bf16"}:
        ap.error(f"--precision {args.precision!r}: expected fp32 and/or bf16")
    started = time.time()
    load_before = os.getloadavg() if hasattr(os, "getloadavg") else None

    print(
        f"torch {torch.__version__}, {args.device}, {torch.get_num_threads()} threads, "
        f"V={args.vocab:,}, batch={args.batch}, {args.negatives} negatives"
    )
    gemm_reps = 3 if device.type == "cpu" else 20
    wait0, wall0 = runqueue_wait_s(), time.perf_counter()
    peaks = {
        p: measure_gemm(
            device, args.gemm_size, torch.float32 if p == "fp32" else torch.bfloat16, gemm_reps
        )
        for p in precisions
    }
    gemm_wait = (runqueue_wait_s() - wait0) / (time.perf_counter() - wall0)
    for p, v in peaks.items():
        print(f"{args.gemm_size}^3 torch.mm {p}: {v / 1e9:,.0f} GFLOP/s")
    if gemm_wait > 0.10:
        print(
            f"WARNING: the GEMM peak was measured while waiting {100 * gemm_wait:.0f}% of the "
            "time for a CPU; fractions of peak are unreliable"
        )
    arrays = synthetic_arrays(args.sessions, args.vocab, args.seed)
    data = synthetic_session_data(arrays, args.vocab, device)
    print(f"{data}")

    rows: list[Row] = []
    ref: dict[str, Row] = {}
    for prec in precisions:
        plan = [("ours/dense", False, False, False), ("ours/dense+skip", True, False, False)]
        if not args.no_lazy:
            plan += [("ours/lazy", False, True, False), ("ours/lazy+skip", True, True, False)]
        if prec == "fp32" and not args.no_as_is:
            plan.append(("ours/dense, Trainer as-is", False, False, True))
        for name, skip, sparse, as_is in plan:
            t = time.time()
            rows.append(run_ours(name, data, args, device, prec, skip, sparse, as_is))
            print(
                f"  {name:30} {prec}: {rows[-1].median_ms:8.1f} ms/step  ({time.time() - t:.0f} s)"
            )
            gc.collect()
        if not args.no_reference:
            t = time.time()
            ref[prec] = run_reference(arrays, args, device, prec)
            rows.append(ref[prec])
            print(
                f"  {'reference':30} {prec}: {ref[prec].median_ms:8.1f} ms/step  "
                f"({time.time() - t:.0f} s)"
            )
            gc.collect()
    print()
    print_table(rows, peaks, ref)

    result = {
        "benchmark": "train_step",
        "command": [sys.executable, *sys.argv],
        "args": vars(args),
        **{k: v for k, v in provenance().items() if k in ("commit", "dirty")},
        "hardware": hardware(device),
        "load_average_before": load_before,
        "load_average_after": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "seconds": time.time() - started,
        "gemm_flops_per_s": peaks,
        "gemm_runqueue_wait_share": gemm_wait,
        "rows": [],
    }
    for r in rows:
        flops = statistics.median(r.flops)
        result["rows"].append(
            {
                "variant": r.name,
                "precision": r.precision,
                "batch": r.batch,
                "median_step_ms": r.median_ms,
                "sessions_per_s": r.sessions_per_s,
                "speedup_vs_reference": (
                    r.sessions_per_s / ref[r.precision].sessions_per_s
                    if r.precision in ref and r.name != "reference"
                    else None
                ),
                "phase_median_ms": {p: statistics.median(v) for p, v in r.phases_ms.items()},
                "phase_share": r.phase_share(),
                "bound": bound_of(r),
                "flops_per_step": flops,
                "flops_per_s": flops / (r.median_ms / 1e3),
                "fraction_of_gemm_peak": flops / (r.median_ms / 1e3) / peaks[r.precision],
                "peak_memory_gb": r.peak_gb,
                "runqueue_wait_share": r.wait_share,
                "note": r.note,
                "step_ms": r.step_ms,
                "cpu_ms": r.cpu_ms,
                "median_cpu_ms": statistics.median(r.cpu_ms),
                "speedup_vs_reference_cpu_time": None
                if math.isnan(cpu_ratio(r, ref))
                else cpu_ratio(r, ref),
            }
        )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    print(f"\nwrote {out} ({time.time() - started:.0f} s in all)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
