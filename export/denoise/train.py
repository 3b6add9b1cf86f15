"""Train a denoiser: ``python -m export.denoise.train --config export/denoise/configs/X.json``.

One loop for both generators (``model.kind``: ``stream`` or ``segan``), SEGAN's objective:

- a :class:`~export.denoise.models.PairCritic` learns least-squares GAN on (noisy, clean) -> 1
  and (noisy, enhanced) -> 0; the generator is pushed towards (noisy, enhanced) -> 1
  (``adversarial.weight``, from ``adversarial.start`` on, every ``adversarial.every`` steps);
- the conditional L1 term ``l1_weight * mean|G(noisy) - clean|`` (SEGAN: 100);
- optionally the multi-resolution STFT loss (``stft_weight``, resolutions ``stft_sizes``);
- optionally power-law compressed spectra (``compressed_weight``, magnitude^0.3 and the compressed
  complex spectrum, 512-point): quiet bins, where a listener hears residual noise in the pauses,
  count about as much as loud ones, which the L1 and log-free STFT terms do not;
- optionally PESQ's own perceptual model (``perceptual_weight``,
  :func:`export.denoise.perceptual.perceptual_loss`): Bark loudness, masked and asymmetric
  disturbance; its frequency and gain compensation limited to ``perceptual_limit_db`` (1 dB:
  P.862's own limits let the network colour the output instead of removing noise).

``trainable`` (a list of parameter-name prefixes, e.g. ``["df_head"]``) trains only those
parameters and keeps the rest of the generator as initialised (what a new head adds alone).
``preemphasis: true`` (SEGAN) trains in the pre-emphasised domain. Pairs are mixed on the fly
(:class:`export.denoise.data.MixSampler`). Every ``eval_every`` steps the model is scored
(PESQ-wb) on the held-out *dev* set and the best so far is kept as ``best.pt``.
Checkpoints (``runs/NAME/last.pt``) are atomic; ``--resume`` continues a run; ``--max-minutes``
stops it with a checkpoint. Log: ``runs/NAME/log.jsonl``, plot ``runs/NAME/loss.png``.
"""

from __future__ import annotations

import copy
import json
import math
import random
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from export.denoise.data import heldout_pairs, training_sampler
from export.denoise.models import (
    SEGAN,
    PairCritic,
    StreamDenoiser,
    build,
    config_dict,
    count_params,
    preemphasis,
    segan_enhance,
    weights_from_step_graph,
)
from export.denoise.perceptual import TRAINING_LIMIT_DB, perceptual_loss
from export.run_setup import (
    fresh_start,
    lr_scale,
    run_arguments,
    save_checkpoint,
    save_loss_plot,
    start_run,
    training_progress,
)
from export.train import complex_loss, mrstft_loss

PLOT_KEYS = ("l1", "stft", "comp", "pq", "adv", "critic")
COMPRESSED_FFT = 512


def compressed_loss(out: torch.Tensor, clean: torch.Tensor, complex_share: float = 0.3) -> torch.Tensor:
    """L1 between magnitude^0.3 spectra, plus ``complex_share`` of the compressed complex term."""
    w = torch.hann_window(COMPRESSED_FFT, device=out.device)
    so, sc = (torch.stft(x, COMPRESSED_FFT, COMPRESSED_FFT // 4, window=w, return_complex=True) for x in (out, clean))
    mag = (so.abs().clamp_min(1e-8) ** 0.3 - sc.abs().clamp_min(1e-8) ** 0.3).abs().mean()
    return (1 - complex_share) * mag + complex_share * complex_loss(so, sc)


def plot(log_path: Path, png: Path) -> None:
    """Smoothed losses against step (log scale), dev PESQ-wb on its own axis."""
    save_loss_plot(log_path, png, {k: k for k in PLOT_KEYS}, {"dev_pesq": "dev PESQ-wb"}, points_axis="dev PESQ-wb")


def load_checkpoint(path: Path) -> tuple[torch.nn.Module, dict]:
    """A trained generator (eval mode) and its checkpoint dict."""
    ck = torch.load(path, map_location="cpu", weights_only=False)
    net = build(ck["model_config"])
    net.load_state_dict(ck["model"])
    return net.eval(), ck


def enhance(net: torch.nn.Module, noisy: np.ndarray) -> np.ndarray:
    """Whole-signal enhancement of one clip with either generator (torch, offline)."""
    if isinstance(net, SEGAN):
        return segan_enhance(net, noisy)
    dev = next(net.parameters()).device
    with torch.no_grad():
        return net(torch.from_numpy(np.asarray(noisy, np.float32))[None].to(dev))[0].cpu().numpy()


def dev_pesq(net: torch.nn.Module, pairs: list) -> float:
    from pesq import pesq

    was = net.training
    net.eval()
    scores = [pesq(16000, clean, enhance(net, noisy), "wb") for _, noisy, clean in pairs]
    net.train(was)
    return float(np.mean(scores))


def main() -> None:
    ap = run_arguments(__doc__)
    ap.add_argument("--device", default="cpu", help="torch device (cuda for the faithful SEGAN's real budget)")
    a = ap.parse_args()
    cfg, run, seed = start_run(a)
    ckpt_path, log_path = run / "last.pt", run / "log.jsonl"
    net = build(cfg["model"])
    adv = cfg.get("adversarial", {})
    critic = PairCritic(adv["channels"], adv.get("kernel", 31), adv.get("stride", 2), adv.get("fc_len"))
    net.to(a.device)
    critic.to(a.device)
    optim = torch.optim.RMSprop if cfg.get("optimizer") == "rmsprop" else torch.optim.AdamW  # SEGAN: RMSprop
    trainable = tuple(cfg.get("trainable", ()))  # prefixes; empty: the whole generator
    if trainable:
        for name, p in net.named_parameters():
            p.requires_grad_(name.startswith(trainable))
    opt_g = optim([p for p in net.parameters() if p.requires_grad], lr=cfg["lr"])
    opt_d = optim(critic.parameters(), lr=adv.get("lr", cfg["lr"]))
    sampler = training_sampler(cfg.get("corpus", "klettres"), seed, cfg.get("pairs"), cfg.get("p_bandlimit", 0.0))
    dev = heldout_pairs("dev", cfg.get("dev_files", 8))
    step, wall, best = 0, 0.0, -math.inf
    ema_decay = float(cfg.get("ema", 0.0))  # > 0: dev, best.pt and the export use an EMA of the weights
    ema = None
    if a.resume and ckpt_path.exists():
        ck = torch.load(ckpt_path, map_location=a.device, weights_only=False)
        net.load_state_dict(ck["model"])
        if ema_decay and "ema" in ck:
            ema = copy.deepcopy(net)
            ema.load_state_dict(ck["ema"])
        critic.load_state_dict(ck["critic"])
        opt_g.load_state_dict(ck["opt_g"])
        opt_d.load_state_dict(ck["opt_d"])
        step, wall, best = ck["step"], ck["wall_seconds"], ck.get("best_dev_pesq", -math.inf)
        sampler.rng.bit_generator.state = ck["sampler_rng"]
        torch.set_rng_state(ck["torch_rng"].cpu())
        random.setstate(ck["py_rng"])
        print(f"resumed at step {step} ({wall / 60:.1f} min trained)")
    else:
        fresh_start(a, net, log_path, weights_from_step_graph if isinstance(net, StreamDenoiser) else None)
    if ema_decay and ema is None:
        ema = copy.deepcopy(net)
    judged = ema if ema is not None else net  # what dev PESQ measures and best.pt keeps
    total = int(cfg["steps"])
    n_params = count_params(net)
    print(f"{a.config.stem}: {n_params / 1e6:.3f}M params (critic {count_params(critic) / 1e6:.3f}M) -> {run}")
    pre = bool(cfg.get("preemphasis", False))
    sizes = tuple(cfg.get("stft_sizes", (256, 512, 1024)))
    w_l1, w_stft, w_adv = cfg.get("l1_weight", 100.0), cfg.get("stft_weight", 0.0), adv.get("weight", 1.0)
    w_comp = cfg.get("compressed_weight", 0.0)
    w_pq = cfg.get("perceptual_weight", 0.0)
    pq_limit = cfg.get("perceptual_limit_db", TRAINING_LIMIT_DB)
    adv_start = int(adv.get("start", 0))
    adv_every = int(adv.get("every", 1))  # the critic costs about as much as the generator: optionally every n-th step

    def save(path: Path = ckpt_path) -> None:
        # best.pt holds the judged weights as "model" (what export reads); last.pt the trained ones
        # and their EMA, to resume both
        weights = judged if path != ckpt_path else net
        save_checkpoint(
            {
                "model": weights.state_dict(),
                **({"ema": ema.state_dict()} if ema is not None else {}),
                "critic": critic.state_dict(),
                "opt_g": opt_g.state_dict(),
                "opt_d": opt_d.state_dict(),
                "step": step,
                "wall_seconds": wall,
                "best_dev_pesq": best,
                "sampler_rng": sampler.rng.bit_generator.state,
                "torch_rng": torch.get_rng_state(),
                "py_rng": random.getstate(),
                "model_config": config_dict(net),
                "train_config": cfg,
                "params": n_params,
            },
            path,
        )

    def lr_factor(s: int) -> float:
        warm = cfg.get("warmup", 0)
        if s >= warm and not cfg.get("cosine", False):
            return 1.0
        return lr_scale(s, warm, total, wall / 60, budget_min)

    limited = a.max_minutes is not None
    budget_min = max(a.max_minutes, 1e-9) if limited else math.inf
    deadline = time.time() + (a.max_minutes * 60 - wall) if limited else math.inf
    with training_progress() as prog, log_path.open("a") as log:
        task = prog.add_task("train", total=total, completed=step, info="")
        while step < total and time.time() < deadline:
            t0 = time.time()
            for o, base in ((opt_g, cfg["lr"]), (opt_d, adv.get("lr", cfg["lr"]))):
                for g in o.param_groups:
                    g["lr"] = base * lr_factor(step)
            noisy, clean = (torch.from_numpy(v).to(a.device) for v in sampler.batch(cfg["batch"], cfg["segment"]))
            if pre:
                noisy, clean = preemphasis(noisy), preemphasis(clean)
            out = net(noisy)
            rec: dict = {"step": step + 1}
            loss = out.new_zeros(())
            if w_adv and step >= adv_start and step % adv_every == 0:
                # the critic learns first (on a detached output), then judges the same output
                l_critic = (
                    0.5 * ((critic(noisy, clean) - 1) ** 2).mean() + 0.5 * (critic(noisy, out.detach()) ** 2).mean()
                )
                opt_d.zero_grad(set_to_none=True)
                l_critic.backward()
                opt_d.step()
                l_adv = 0.5 * ((critic(noisy, out) - 1) ** 2).mean()
                loss = loss + w_adv * l_adv
                rec |= {"critic": l_critic.item(), "adv": l_adv.item()}
            l_l1 = F.l1_loss(out, clean)
            loss = loss + w_l1 * l_l1
            rec["l1"] = l_l1.item()
            if w_stft:
                l_stft = mrstft_loss(out[:, None], clean[:, None], sizes)
                loss = loss + w_stft * l_stft
                rec["stft"] = l_stft.item()
            if w_comp:
                l_comp = compressed_loss(out, clean)
                loss = loss + w_comp * l_comp
                rec["comp"] = l_comp.item()
            if w_pq:
                l_pq = perceptual_loss(out, clean, pq_limit)
                loss = loss + w_pq * l_pq
                rec["pq"] = l_pq.item()
            opt_g.zero_grad(set_to_none=True)
            loss.backward()
            rec["grad"] = torch.nn.utils.clip_grad_norm_(net.parameters(), cfg.get("clip", 10.0)).item()
            opt_g.step()
            if ema is not None:
                with torch.no_grad():
                    for tracked, live in zip(ema.parameters(), net.parameters(), strict=True):
                        tracked.lerp_(live, 1.0 - ema_decay)
            step += 1
            dt = time.time() - t0
            wall += dt
            rec["sec"] = round(dt, 3)
            if step % cfg.get("eval_every", 500) == 0 or step == total:
                rec["dev_pesq"] = round(dev_pesq(judged, dev), 4)
                if rec["dev_pesq"] > best:
                    best = rec["dev_pesq"]
                    save(run / "best.pt")
            log.write(json.dumps(rec) + "\n")
            shown = " ".join(f"{k} {rec[k]:.3f}" for k in PLOT_KEYS if k in rec)
            prog.update(task, completed=step, info=f"{shown} best dev {best:.3f} {dt:.2f}s/step {wall / 60:.1f} min")
            if step % cfg.get("ckpt_every", 200) == 0:
                log.flush()
                save()
                plot(log_path, run / "loss.png")
    save()
    plot(log_path, run / "loss.png")
    print(f"stopped at step {step}, {wall / 60:.1f} min trained, best dev PESQ-wb {best:.3f}")


if __name__ == "__main__":
    main()
