"""Train a band-extension network: ``python -m export.train --config export/configs/X.json``.

One objective for every preset: predict the missing band (multi-resolution STFT + waveform L1
on the full output). A share of the steps trains the refiner: the predictor's own output
(detached) is re-noised to a random level and the net learns to recover the clean band from it,
which is exactly what a refiner step sees at run time.
"""

from __future__ import annotations

import json
import math
import random
import shutil
import time

import torch
import torch.nn.functional as F

from export.data import Sampler, training_audio
from export.models import SIGMA_PURE, BandNet, build, config_dict, highpass
from export.run_setup import (
    fresh_start,
    lr_scale,
    run_arguments,
    save_checkpoint,
    save_loss_plot,
    start_run,
    training_progress,
)
from rtaudio import metrics


def stft_mag(x: torch.Tensor, n_fft: int) -> torch.Tensor:
    w = torch.hann_window(n_fft)
    return (
        torch.stft(x, n_fft, n_fft // 4, window=w, return_complex=True).abs().clamp_min(1e-5)
    )  # ~ the LSD power floor


def mrstft_loss(y: torch.Tensor, t: torch.Tensor, sizes: tuple[int, ...] = (512, 1024, 2048)) -> torch.Tensor:
    """Spectral convergence + log-magnitude L1, averaged over resolutions."""
    y, t = y.squeeze(1), t.squeeze(1)
    total = y.new_zeros(())
    for n in sizes:
        ym, tm = stft_mag(y, n), stft_mag(t, n)
        sc = torch.linalg.norm(tm - ym) / torch.linalg.norm(tm).clamp_min(1e-7)
        total = total + sc + F.l1_loss(torch.log(ym), torch.log(tm))
    return total / len(sizes)


def compressed(spec: torch.Tensor, power: float = 0.3) -> torch.Tensor:
    """Complex spectrum with its magnitude raised to ``power``: quiet bins keep a say."""
    return spec * spec.abs().clamp_min(1e-8) ** (power - 1.0)


def complex_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L1 between power-law compressed complex spectra: phase errors count, weighted by loudness.

    The anti-wrapped losses treat every bin alike; this one is what a listener's ear does with
    the phase of the bins that are actually heard.
    """
    return (compressed(pred) - compressed(target)).abs().mean()


def lsd_loss(y: torch.Tensor, t: torch.Tensor, n_fft: int = metrics.N_FFT) -> torch.Tensor:
    """The evaluation's log-spectral distance (DESIGN.md: n_fft 2048, hop 512, Hann, log10 power
    floored at 1e-8), differentiable. It weighs every frame and bin equally, quiet ones included,
    which the magnitude losses above do not: without it the band's level is right in loud frames
    and wrong everywhere else."""
    w = torch.hann_window(n_fft)

    def logp(x: torch.Tensor) -> torch.Tensor:
        spec = torch.stft(x.squeeze(1), n_fft, n_fft // 4, window=w, return_complex=True)
        return torch.log10((spec.real**2 + spec.imag**2).clamp_min(metrics.POWER_FLOOR))

    d = logp(y) - logp(t)  # (B, bins, frames)
    return torch.sqrt(torch.mean(d**2, dim=1) + 1e-6).mean()


def main() -> None:
    a = run_arguments(__doc__).parse_args()
    cfg, run, seed = start_run(a)
    ckpt_path, log_path = run / "last.pt", run / "log.jsonl"
    net: BandNet = build(cfg["model"])
    opt = torch.optim.AdamW(net.parameters(), lr=cfg["lr"], weight_decay=0.0)
    audio = training_audio(cfg["corpus"])
    rates = {int(k): float(v) for k, v in cfg["rates"].items()}
    sampler = Sampler(audio, cfg["segment"], rates, seed, cfg.get("p_bandlimited", 0.0))
    step, wall = 0, 0.0
    if a.resume and ckpt_path.exists():
        ck = torch.load(ckpt_path, weights_only=False)
        net.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        step, wall = ck["step"], ck["wall_seconds"]
        sampler.rng.bit_generator.state = ck["sampler_rng"]
        torch.set_rng_state(ck["torch_rng"])
        print(f"resumed at step {step} ({wall / 60:.1f} min trained)")
    else:
        fresh_start(a, net, log_path)

    total = int(cfg["steps"])
    n_params = sum(p.numel() for p in net.parameters())
    print(f"{cfg['model']} {n_params / 1e6:.3f}M params -> {run}")

    def save() -> None:
        save_checkpoint(
            {
                "model": net.state_dict(),
                "opt": opt.state_dict(),
                "step": step,
                "wall_seconds": wall,
                "sampler_rng": sampler.rng.bit_generator.state,
                "torch_rng": torch.get_rng_state(),
                "net_config": config_dict(net),
                "train_config": cfg,
                "params": n_params,
            },
            ckpt_path,
        )
        save_loss_plot(log_path, run / "loss.png", {k: k for k in ("loss", "stft", "lsd", "l1x100")})

    def lr_at(s: int) -> float:
        return cfg["lr"] * lr_scale(s, cfg.get("warmup", 100), total, wall / 60, budget_min)

    log_sig = cfg.get("log10_sigma_range", [-3.5, -0.7])
    p_refine = cfg.get("p_refine", 0.4)
    budget_min = a.max_minutes or math.inf
    deadline = time.time() + (a.max_minutes * 60 - wall) if a.max_minutes else math.inf
    with training_progress() as prog, log_path.open("a") as log:
        task = prog.add_task("train", total=total, completed=step, info="")
        while step < total and time.time() < deadline:
            t0 = time.time()
            b = sampler.batch(cfg["batch"])
            tgt, cond = torch.from_numpy(b.target), torch.from_numpy(b.cond)
            cutoff = torch.tensor([b.low_rate / 2.0])
            refine = random.random() < p_refine
            if refine:
                sigma = 10 ** random.uniform(*log_sig)
                with torch.no_grad():
                    pred = net(cond, torch.zeros_like(cond), torch.tensor([SIGMA_PURE]), cutoff)
                x_t = pred + sigma * torch.randn_like(cond)
            else:
                sigma, x_t = SIGMA_PURE, torch.zeros_like(cond)
            for g in opt.param_groups:
                g["lr"] = lr_at(step)
            out = cond + net(cond, x_t, torch.tensor([float(sigma)]), cutoff)
            l_stft = mrstft_loss(out, tgt)
            l_lsd = lsd_loss(out, tgt) if cfg.get("lsd_weight", 0.0) else torch.zeros(())
            # Waveform L1 on the band the net owns (the low band is fixed by construction).
            l1 = F.l1_loss(out - cond, highpass(tgt - cond, cutoff))
            loss = l_stft + cfg.get("lsd_weight", 0.0) * l_lsd + cfg.get("l1_weight", 20.0) * l1
            opt.zero_grad(set_to_none=True)
            loss.backward()
            gn = torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            opt.step()
            step += 1
            dt = time.time() - t0
            wall += dt
            rec = {
                "step": step,
                "loss": loss.item(),
                "stft": l_stft.item(),
                "lsd": l_lsd.item(),
                "l1x100": 100 * l1.item(),
            }
            rec |= {
                "rate": b.low_rate,
                "sigma": sigma,
                "refine": refine,
                "grad": gn.item(),
                "sec": round(dt, 3),
            }
            log.write(json.dumps(rec) + "\n")
            prog.update(
                task,
                completed=step,
                info=f"loss {loss.item():.3f} {dt:.2f}s/step {wall / 60:.1f} min",
            )
            if step % cfg.get("ckpt_every", 100) == 0:
                log.flush()
                save()
            # Snapshots to choose from on the dev part afterwards (the last step is not always best).
            if cfg.get("keep_every") and step % cfg["keep_every"] == 0:
                save()
                shutil.copyfile(ckpt_path, run / f"step{step}.pt")
    save()
    print(f"stopped at step {step}, {wall / 60:.1f} min trained")


if __name__ == "__main__":
    main()
