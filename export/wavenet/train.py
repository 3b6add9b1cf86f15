"""Train the chord WaveNet: ``python -m export.wavenet.train --config export/wavenet/configs/generate16k.json``.

Teacher-forced cross-entropy over 256 mu-law classes on crops of the rendered triads
(``python -m export.wavenet.data``). Each crop is ``receptive field + segment`` samples; the
loss covers the last ``segment`` (every position there sees real audio, no padding). A share
``p_onset`` of the crops is placed so a chord onset falls in the first half of the loss window:
onsets are where the conditioning decides what sounds (after one, the waveform's past predicts
most of the future). ``input_noise`` jitters the inputs (not the targets) by up to that many
classes, so the net learns to continue from its own noisy draws; ``heavy_noise_share`` of the
crops get up to ``heavy_noise`` classes, so the chord has to carry the prediction. ``self_feed`` goes further
(parallel scheduled sampling, Duckworth et al. 2019): that share of the loss window's inputs is
replaced by the net's own one-step draws, the kind of past it feeds itself when it plays.
A model with an ``excitation`` (``model.excitation: 6``) is trained on labels that switch at each
chord's audible onset (``audio_onsets`` of the data) and hears the chord's excitation from that
sample on (:func:`rtaudio.tasks.generate.excitation`), as the generator plays it.
``autocast_bf16`` runs the training products in bfloat16 (held-out figures stay float32).
Logs ``runs/NAME/log.jsonl`` (train loss in bits/sample per step, held-out bits/sample every
``eval_every`` steps) and ``loss.png``; checkpoints ``last.pt`` every ``ckpt_every`` steps.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from export.run_setup import (
    fresh_start,
    lr_scale,
    run_arguments,
    save_checkpoint,
    save_loss_plot,
    start_run,
    training_progress,
)
from export.wavenet.data import labels_at_onsets
from export.wavenet.export import state_from_npz
from export.wavenet.models import WaveNet, build, config_dict
from rtaudio.tasks.generate import excitation

DATA = Path("data/wavenet")
RATE = 16000
LN2 = math.log(2.0)


class Crops:
    """Random crops within files, half of them around a chord onset.

    With ``onset_labels`` a sample's chord label is that of the last audible onset at or before
    it (the file's first one before it), and ``since`` counts samples from that onset (negative
    before a file's first note): what the excitation is keyed to.
    """

    def __init__(
        self, part: Path, length: int, rng: np.random.Generator, p_onset: float = 0.5, onset_labels: bool = False
    ) -> None:
        d = np.load(part)
        self.x, self.chord, self.inst = d["x"], d["chord"], d["inst"]
        self.files, self.onsets = d["files"], d["onsets"]
        self.length, self.rng, self.p_onset = length, rng, p_onset
        self.since = np.zeros(len(self.x), np.int32)
        if onset_labels:
            self.chord, self.since = labels_at_onsets(self.chord, self.files, d["audio_onsets"])
            self.onsets = d["audio_onsets"]

    def _start(self, tail: int) -> int:
        if self.rng.random() < self.p_onset:
            onset = int(self.rng.choice(self.onsets))
            start = onset - (self.length - tail) - int(self.rng.integers(0, tail // 2))
        else:
            start = int(self.rng.integers(0, len(self.x) - self.length))
        # keep the crop inside one file
        f = int(np.searchsorted(self.files, start, side="right")) - 1
        f = min(max(f, 0), len(self.files) - 2)
        lo, hi = self.files[f], self.files[f + 1] - self.length
        return int(min(max(start, lo), hi))

    def batch(self, n: int, tail: int) -> tuple[torch.Tensor, ...]:
        idx = np.stack([np.arange(s, s + self.length) for s in (self._start(tail) for _ in range(n))])
        as_t = lambda a: torch.from_numpy(a[idx].astype(np.int64))  # noqa: E731
        return as_t(self.x), as_t(self.chord), as_t(self.inst), as_t(self.since)


def excitation_of(net: WaveNet, chord: torch.Tensor, since: torch.Tensor) -> torch.Tensor | None:
    """``(B, T, channels)`` excitation of per-sample labels and onset distances, or ``None`` (no excitation)."""
    if not net.cfg.excitation:
        return None
    e = excitation(chord.reshape(-1).numpy(), since.reshape(-1).numpy(), RATE, net.cfg.excitation)
    return torch.from_numpy(e).reshape(*chord.shape, -1)


def noisy_inputs(
    x: torch.Tensor, max_sigma: float, rng: np.random.Generator, heavy_share: float = 0.0, heavy_sigma: float = 0.0
) -> torch.Tensor:
    """Inputs with Gaussian jitter of up to ``max_sigma`` mu-law classes (one level per crop).

    Targets stay clean: the net learns to predict the clean next sample from a past that has
    sampling noise in it, which is what it sees when it feeds back its own draws (LPCNet's
    noise injection, in the class domain). A ``heavy_share`` of crops gets a level drawn up to
    ``heavy_sigma`` instead: a past that says little, so the chord and its excitation become the
    cheaper predictor, which is what has to hold a free-running take to the chord.
    """
    if max_sigma <= 0 and heavy_share <= 0:
        return x
    levels = rng.uniform(0, max_sigma, x.shape[0])
    if heavy_share > 0:  # (no extra draws otherwise: earlier runs resume and replay exactly)
        heavy = rng.random(x.shape[0]) < heavy_share
        levels[heavy] = rng.uniform(max_sigma, max(heavy_sigma, max_sigma), int(heavy.sum()))
    sigma = torch.from_numpy(levels[:, None].astype(np.float32))
    jitter = torch.round(torch.randn(x.shape) * sigma).long()
    return (x + jitter).clamp(0, 255)


def self_fed_inputs(
    net: WaveNet,
    x_in: torch.Tensor,
    chord: torch.Tensor,
    inst: torch.Tensor,
    since: torch.Tensor,
    tail: int,
    share: float,
    rng: np.random.Generator,
) -> torch.Tensor:
    """Inputs with a ``share`` of the loss window replaced by the net's own draws.

    Free-running, every input is a draw of the net; under teacher forcing it never sees one, so
    it never learns to recover from its own mistakes and drifts to noise when it plays. One
    extra forward pass without gradient draws every window sample from the net's prediction
    given the real past; targets stay real.
    """
    with torch.no_grad():
        logits = next_logits(net, x_in, chord, inst, since, tail)  # (B, classes, tail): x_in[-tail:]
        draws = torch.distributions.Categorical(logits=logits.transpose(1, 2)).sample()
    swap = torch.from_numpy(rng.random(draws.shape) < share)
    out = x_in.clone()
    out[:, -tail:] = torch.where(swap, draws, x_in[:, -tail:])
    return out


def bits(
    net: WaveNet,
    x: torch.Tensor,
    chord: torch.Tensor,
    inst: torch.Tensor,
    since: torch.Tensor,
    tail: int,
    inputs: torch.Tensor | None = None,
) -> torch.Tensor:
    """Mean bits/sample over the last ``tail`` predictions: ``x[:, :-1]`` (or ``inputs``) predicts ``x[:, 1:]``
    (under the labels and excitation of the predicted samples)."""
    x_in = x if inputs is None else inputs
    return F.cross_entropy(next_logits(net, x_in, chord, inst, since, tail), x[:, -tail:]) / LN2


def next_logits(
    net: WaveNet, x_in: torch.Tensor, labels: torch.Tensor, inst: torch.Tensor, since: torch.Tensor, tail: int
) -> torch.Tensor:
    """Logits of the last ``tail`` samples: input t predicts t + 1 under the labels (and excitation) of t + 1."""
    exc = excitation_of(net, labels[:, 1:], since[:, 1:])
    return net(x_in[:, :-1], labels[:, 1:], inst[:, 1:], exc)[:, :, -tail:]


def chord_contrast(
    net: WaveNet,
    x: torch.Tensor,
    chord: torch.Tensor,
    inst: torch.Tensor,
    since: torch.Tensor,
    tail: int,
    x_in: torch.Tensor,
    crops: int,
    rng: np.random.Generator,
) -> torch.Tensor:
    """Make the likelihood depend on the chord: softplus(-(log p(x | chord) - log p(x | other chord)))
    per crop, the log-likelihoods summed over the loss window (nats).

    Teacher forcing alone gives the conditioning almost no gradient (after an onset the past
    predicts the waveform), and a net trained on it ignores the chord. This term is satisfied
    once a crop is a few nats likelier under its own chord, so it costs little likelihood; it
    runs on the first ``crops`` crops of the batch.
    """
    x, chord, inst, x_in, since = x[:crops], chord[:crops], inst[:crops], x_in[:crops], since[:crops]
    other = (chord + 2 * torch.from_numpy(rng.integers(1, 12, (len(x), 1)))) % 24  # same quality, other root

    def loglik(labels: torch.Tensor) -> torch.Tensor:
        logits = next_logits(net, x_in, labels, inst, since, tail)
        return -F.cross_entropy(logits, x[:, -tail:], reduction="none").sum(dim=1)

    return F.softplus(loglik(other) - loglik(chord)).mean() / tail


def main() -> None:
    a = run_arguments(__doc__).parse_args()
    cfg, run, seed = start_run(a)
    ckpt_path, log_path = run / "last.pt", run / "log.jsonl"
    net = build(cfg["model"])
    opt = torch.optim.Adam(net.parameters(), lr=cfg["lr"])
    tail = int(cfg["segment"])
    length = net.cfg.receptive_field + tail + 1
    rng = np.random.default_rng(seed)
    onset_labels = bool(net.cfg.excitation)
    train = Crops(DATA / "train.npz", length, rng, cfg.get("p_onset", 0.5), onset_labels)
    held = Crops(DATA / "test.npz", length, np.random.default_rng(1234), onset_labels=onset_labels)
    held_batch = held.batch(int(cfg.get("eval_crops", 24)), tail)  # one fixed held-out set
    step, wall = 0, 0.0
    if a.resume and ckpt_path.exists():
        ck = torch.load(ckpt_path, weights_only=False)
        net.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        step, wall = ck["step"], ck["wall_seconds"]
        rng.bit_generator.state = ck["rng"]
        torch.set_rng_state(ck["torch_rng"])
        print(f"resumed at step {step} ({wall / 60:.1f} min trained)")
    else:
        fresh_start(a, net, log_path, state_from_npz)  # --init: a checkpoint or a shipped .npz
    total = int(cfg["steps"])
    n_params = sum(p.numel() for p in net.parameters())
    print(f"WaveNet {n_params / 1e6:.3f}M params, receptive field {net.cfg.receptive_field} -> {run}")
    budget_min = a.max_minutes or math.inf

    def save() -> None:
        save_checkpoint(
            {
                "model": net.state_dict(),
                "opt": opt.state_dict(),
                "step": step,
                "wall_seconds": wall,
                "rng": rng.bit_generator.state,
                "torch_rng": torch.get_rng_state(),
                "net_config": config_dict(net),
                "train_config": cfg,
                "params": n_params,
            },
            ckpt_path,
        )
        save_loss_plot(
            log_path,
            run / "loss.png",
            {"bits": "train (50-step mean)"},
            {"heldout_bits": "held-out"},
            log_scale=False,
            ylabel="bits / sample",
        )

    def lr_at(s: int) -> float:
        budget = cfg.get("budget_minutes", budget_min)  # the whole run's, across --resume stages
        return cfg["lr"] * lr_scale(s, cfg.get("warmup", 100), total, wall / 60, budget)

    # bfloat16 products (weights, optimizer and held-out evaluation stay float32): ~1.7x faster
    # steps on CPUs with AVX512-BF16 or AMX
    bf16 = bool(cfg.get("autocast_bf16", False))
    deadline = time.time() + (a.max_minutes * 60 - wall) if a.max_minutes else math.inf
    held_bits = float("nan")
    with training_progress() as prog, log_path.open("a") as log:
        task = prog.add_task("train", total=total, completed=step, info="")
        while step < total and time.time() < deadline:
            t0 = time.time()
            for g in opt.param_groups:
                g["lr"] = lr_at(step)
            x, chord, inst, since = train.batch(cfg["batch"], tail)
            x_in = noisy_inputs(
                x, cfg.get("input_noise", 0.0), rng, cfg.get("heavy_noise_share", 0.0), cfg.get("heavy_noise", 0.0)
            )
            if cfg.get("self_feed", 0.0):
                x_in = self_fed_inputs(net, x_in, chord, inst, since, tail, cfg["self_feed"], rng)
            with torch.autocast("cpu", torch.bfloat16, enabled=bf16):
                loss = bits(net, x, chord, inst, since, tail, x_in)
                disc = torch.zeros(())
                if cfg.get("disc_weight", 0.0):
                    disc = chord_contrast(net, x, chord, inst, since, tail, x_in, cfg.get("disc_crops", 4), rng)
                    loss = loss + cfg["disc_weight"] * disc
            opt.zero_grad(set_to_none=True)
            loss.backward()
            gn = torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            opt.step()
            step += 1
            dt = time.time() - t0
            wall += dt
            rec = {
                "step": step,
                "bits": round(loss.item(), 4),
                "grad": round(gn.item(), 3),
                "lr": lr_at(step),
                "sec": round(dt, 3),
            }
            if cfg.get("disc_weight", 0.0):
                rec["disc"] = round(disc.item(), 6)
            if step % cfg.get("eval_every", 200) == 0:
                net.eval()
                with torch.no_grad():
                    held_bits = bits(net, *held_batch, tail=tail).item()
                net.train()
                rec["heldout_bits"] = round(held_bits, 4)
            log.write(json.dumps(rec) + "\n")
            prog.update(
                task,
                completed=step,
                info=f"{loss.item():.3f} bits (held-out {held_bits:.3f}) {dt:.2f}s/step {wall / 60:.1f} min",
            )
            if step % cfg.get("ckpt_every", 100) == 0:
                log.flush()
                save()
    save()
    print(f"stopped at step {step}, {wall / 60:.1f} min trained")


if __name__ == "__main__":
    main()
