"""Train a vocoder: ``python -m export.vocoder.train --config export/vocoder/configs/X.json``.

Two objectives, one loop:

- the predictor (when the config has one) learns mel -> waveform in one pass: log-mel L1,
  multi-resolution STFT loss, L1 on the per-frame log magnitude (``mag_weight``),
  anti-wrapped phase-derivative losses (``phase_weight``), L1 on compressed complex spectra
  against the target (``complex_weight``) and against the STFT of its own synthesis
  (``consistency_weight``: spectra an STFT can actually have, which Griffin-Lim needs);
  with ``adversarial`` also least-squares GAN and feature-matching losses from period and
  spectrogram critics (:mod:`export.vocoder.discriminators`), which reward one coherent phase;
- the WaveGrad network learns WaveGrad's objective (L1 on the noise, continuous noise level
  sqrt(alpha_bar) drawn between neighbouring steps of beta = linspace(1e-6, 0.01, 1000)) on
  the predictor's scaled residual, from ``refiner_start`` on, every ``refine_every`` steps.
  Without a predictor the residual is the waveform itself: the paper's setup. With
  ``freeze_predictor`` only the refiner trains (a refiner for a finished predictor).

Checkpoints (``runs/NAME/last.pt``) are atomic; ``--resume`` continues a run (steps, wall
time, optimiser and RNG states); ``--max-minutes`` stops it with a checkpoint.
"""

from __future__ import annotations

import json
import math
import random
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
from export.train import complex_loss, mrstft_loss
from export.vocoder.data import Crops, train_audio
from export.vocoder.discriminators import Critics, critic_loss, generator_losses
from export.vocoder.mel import LogMel
from export.vocoder.models import Vocoder, VocoderConfig, count_params
from rtaudio.tasks.mel import MelSpec
from rtaudio.tasks.spectral import PREDICTOR_GAIN
from rtaudio.tasks.vocode import predicted_waveform

TRAIN_BETAS = (1e-6, 0.01, 1000)  # WaveGrad's training schedule: linspace(start, stop, n)


def train_levels() -> torch.Tensor:
    """sqrt(alpha_bar) at 0..1000 training steps (index 0 = clean)."""
    beta = torch.linspace(*TRAIN_BETAS, dtype=torch.float64)
    return torch.cat([torch.ones(1, dtype=torch.float64), torch.cumprod(1 - beta, 0).sqrt()]).float()


def sample_levels(levels: torch.Tensor, n: int) -> torch.Tensor:
    """WaveGrad's continuous noise level: uniform between two neighbouring discrete levels."""
    t = torch.randint(1, len(levels), (n,))
    lo, hi = levels[t], levels[t - 1]
    return lo + (hi - lo) * torch.rand(n)


def _wrap(x: torch.Tensor) -> torch.Tensor:
    """Anti-wrapping distance: |x| folded into [0, pi]."""
    return (x - 2 * math.pi * torch.round(x / (2 * math.pi))).abs()


def phase_loss(phase: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Instantaneous phase, group delay and instantaneous frequency errors (anti-wrapped), averaged.

    Absolute phase is barely predictable from a mel spectrogram, but its derivatives along
    frequency (group delay) and time (instantaneous frequency) are: supervising them teaches
    the predictor coherent phase far faster than magnitude losses alone. ``(B, bins, F)``.
    """
    ip = _wrap(phase - target).mean()
    gd = _wrap(torch.diff(phase, dim=1) - torch.diff(target, dim=1)).mean()
    iaf = _wrap(torch.diff(phase, dim=2) - torch.diff(target, dim=2)).mean()
    return (ip + gd + iaf) / 3


PLOT_KEYS = ("mel_l1", "mrstft", "phase", "mag", "complex", "consistency", "adv", "fm", "critic", "noise_l1")


def load_checkpoint(path: Path) -> tuple[Vocoder, dict]:
    """A trained :class:`Vocoder` (eval mode) and its checkpoint dict."""
    ck = torch.load(path, map_location="cpu", weights_only=False)
    net = Vocoder(VocoderConfig.from_dict(ck["model_config"]), MelSpec(**ck["mel"]))
    net.load_state_dict(ck["model"])
    return net.eval(), ck


def main() -> None:
    a = run_arguments(__doc__).parse_args()
    cfg, run, seed = start_run(a)
    ckpt_path, log_path = run / "last.pt", run / "log.jsonl"
    mcfg = VocoderConfig.from_dict(cfg["model"])
    spec = MelSpec(**cfg.get("mel", {}))
    net = Vocoder(mcfg, spec)
    logmel = LogMel(spec)
    opts = {}
    # a refiner trained for a finished predictor leaves the predictor's weights as they are
    train_predictor = net.predictor is not None and not cfg.get("freeze_predictor", False)
    if train_predictor:
        opts["predictor"] = torch.optim.AdamW(net.predictor.parameters(), lr=cfg["lr"], betas=(0.8, 0.99))
    if net.wavegrad is not None:
        opts["wavegrad"] = torch.optim.AdamW(net.wavegrad.parameters(), lr=cfg["refiner_lr"], betas=(0.9, 0.999))
    adversarial = cfg.get("adversarial")  # {"lr", "adv_weight", "fm_weight"}: critics judge the predictor
    critics = Critics() if adversarial and train_predictor else None
    if critics is not None:
        opts["critics"] = torch.optim.AdamW(critics.parameters(), lr=adversarial["lr"], betas=(0.8, 0.99))
    base_lr = {"predictor": cfg["lr"], "wavegrad": cfg.get("refiner_lr"), "critics": (adversarial or {}).get("lr")}
    crops = Crops(train_audio(cfg.get("corpus", "klettres"), spec.sample_rate), seed)
    step, wall = 0, 0.0
    if a.resume and ckpt_path.exists():
        ck = torch.load(ckpt_path, weights_only=False)
        net.load_state_dict(ck["model"])
        for k, o in opts.items():
            o.load_state_dict(ck["opt"][k])
        if critics is not None:
            critics.load_state_dict(ck["critics"])
        step, wall = ck["step"], ck["wall_seconds"]
        crops.rng.bit_generator.state = ck["crops_rng"]
        torch.set_rng_state(ck["torch_rng"])
        random.setstate(ck["py_rng"])
        print(f"resumed at step {step} ({wall / 60:.1f} min trained)")
    else:
        fresh_start(a, net, log_path)

    total = int(cfg["steps"])
    refiner_start = int(cfg.get("refiner_start", 0))
    refine_every = int(cfg.get("refine_every", 1))
    n_params = count_params(net)
    print(f"{a.config.stem}: {n_params / 1e6:.3f}M params -> {run}")
    levels = train_levels()
    scale = mcfg.residual_scale
    phase_iters = int(cfg.get("phase_iters", 0))
    phase_retrieval = cfg.get("phase_retrieval", "griffin-lim")  # how the runtime turns predictions into y0
    phase_init = cfg.get("phase_init", "predicted")
    momentum = float(cfg.get("phase_momentum", 0.0))

    def save() -> None:
        save_checkpoint(
            {
                "model": net.state_dict(),
                "critics": critics.state_dict() if critics is not None else None,
                "opt": {k: o.state_dict() for k, o in opts.items()},
                "step": step,
                "wall_seconds": wall,
                "crops_rng": crops.rng.bit_generator.state,
                "torch_rng": torch.get_rng_state(),
                "py_rng": random.getstate(),
                "model_config": mcfg.to_dict(),
                "mel": spec.to_dict(),
                "train_config": cfg,
                "params": n_params,
            },
            ckpt_path,
        )
        save_loss_plot(log_path, run / "loss.png", {k: k for k in PLOT_KEYS})

    def lr_factor(s: int) -> float:
        return lr_scale(s, cfg.get("warmup", 200), total, wall / 60, budget_min)

    limited = a.max_minutes is not None  # --max-minutes 0 writes an untrained checkpoint (for timing)
    budget_min = max(a.max_minutes, 1e-9) if limited else math.inf
    deadline = time.time() + (a.max_minutes * 60 - wall) if limited else math.inf
    with training_progress() as prog, log_path.open("a") as log:
        task = prog.add_task("train", total=total, completed=step, info="")
        while step < total and time.time() < deadline:
            t0 = time.time()
            rec: dict = {"step": step + 1}
            for name, o in opts.items():
                for g in o.param_groups:
                    g["lr"] = base_lr[name] * lr_factor(step)
            if train_predictor:
                y = torch.from_numpy(crops.batch(cfg["batch"], cfg["segment"]))
                with torch.no_grad():
                    spec_y = logmel.stft(y)
                    mel = logmel.from_stft(spec_y)
                logmag, phase = net.predictor.spectrum(mel)
                out = net.predictor.synthesize(logmag, phase)[:, 0]
                l_mel = F.l1_loss(logmel(out), mel)
                l_stft = mrstft_loss(out[:, None], y[:, None])
                l_phase = phase_loss(phase, spec_y.angle().transpose(1, 2))
                target_mag = torch.log((spec_y.abs() / PREDICTOR_GAIN).clamp_min(1e-5)).transpose(1, 2)
                l_mag = F.l1_loss(logmag, target_mag)
                loss = (
                    cfg.get("mel_weight", 1.0) * l_mel
                    + l_stft
                    + cfg.get("phase_weight", 0.0) * l_phase
                    + cfg.get("mag_weight", 0.0) * l_mag
                )
                w_complex, w_consistency = cfg.get("complex_weight", 0.0), cfg.get("consistency_weight", 0.0)
                if w_complex or w_consistency:  # both cost an STFT-sized pass: only when a config asks
                    # the predicted STFT (bins, frames) against the target's and what the synthesis really made
                    pred_spec = torch.polar(torch.exp(logmag), phase).transpose(1, 2) * PREDICTOR_GAIN
                    l_complex = complex_loss(pred_spec, spec_y)
                    l_consistency = complex_loss(pred_spec, logmel.stft(out))
                    loss = loss + w_complex * l_complex + w_consistency * l_consistency
                    rec |= {"complex": l_complex.item(), "consistency": l_consistency.item()}
                if critics is not None:
                    # the critics learn first (on a detached output), then judge the same output
                    l_critic = critic_loss(critics(y), critics(out.detach()))
                    opts["critics"].zero_grad(set_to_none=True)
                    l_critic.backward()
                    opts["critics"].step()
                    with torch.no_grad():
                        judged_real = critics(y)
                    l_adv, l_fm = generator_losses(judged_real, critics(out))
                    loss = loss + adversarial["adv_weight"] * l_adv + adversarial["fm_weight"] * l_fm
                    rec |= {"critic": l_critic.item(), "adv": l_adv.item(), "fm": l_fm.item()}
                rec |= {"phase": l_phase.item(), "mag": l_mag.item()}
                opts["predictor"].zero_grad(set_to_none=True)
                loss.backward()
                rec |= {"mel_l1": l_mel.item(), "mrstft": l_stft.item()}
                rec["grad_p"] = torch.nn.utils.clip_grad_norm_(net.predictor.parameters(), 10.0).item()
                opts["predictor"].step()
            if net.wavegrad is not None and step >= refiner_start and step % refine_every == 0:
                n = cfg.get("refine_batch", cfg["batch"])
                seg = cfg.get("refine_segment", cfg["segment"])
                y = torch.from_numpy(crops.batch(n, seg))[:, None]
                with torch.no_grad():
                    mel = logmel(y[:, 0])
                    if net.predictor is not None and phase_iters:  # exactly what the runtime hands the refiner
                        lm, ph = (t.transpose(1, 2).double().numpy() for t in net.predictor.spectrum(mel))
                        if phase_init == "random":
                            ph = np.random.default_rng(step).uniform(-np.pi, np.pi, ph.shape)
                        wave = predicted_waveform(
                            np.exp(lm) * PREDICTOR_GAIN, ph, mel.numpy(), spec, phase_iters, phase_retrieval, momentum
                        )
                        y0 = torch.from_numpy(wave)[:, None]
                    else:
                        y0 = net.predict(mel)
                lev = sample_levels(levels, n)[:, None, None]
                eps = torch.randn_like(y)
                x_t = lev * (y - y0) * scale + (1 - lev**2).sqrt() * eps
                l_noise = F.l1_loss(net.denoise(x_t, y0, mel, lev[:, 0, 0]), eps)
                opts["wavegrad"].zero_grad(set_to_none=True)
                l_noise.backward()
                rec["noise_l1"] = l_noise.item()
                rec["grad_r"] = torch.nn.utils.clip_grad_norm_(net.wavegrad.parameters(), 1.0).item()
                opts["wavegrad"].step()
            step += 1
            dt = time.time() - t0
            wall += dt
            rec["sec"] = round(dt, 3)
            log.write(json.dumps(rec) + "\n")
            shown = " ".join(f"{k} {rec[k]:.3f}" for k in ("mel_l1", "mrstft", "noise_l1") if k in rec)
            prog.update(task, completed=step, info=f"{shown} {dt:.2f}s/step {wall / 60:.1f} min")
            if step % cfg.get("ckpt_every", 100) == 0:
                log.flush()
                save()
    save()
    print(f"stopped at step {step}, {wall / 60:.1f} min trained")


if __name__ == "__main__":
    main()
