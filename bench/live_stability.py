"""Live stability scenario: N minutes through rtaudio on a private JACK dummy server.

A JACK test client plays a noise burst every second into rtaudio (``live`` through
PortAudio's JACK device, or the ``bridge``), records what comes back, and measures each
burst's delay. Reports xruns (rtaudio's counters and the server's view of who was late),
the reported latency, and the measured delay's drift over the run, as JSON on stdout.

    python bench/live_stability.py --minutes 2 --model sinc --in-rate 16000 --mode live
    python bench/live_stability.py --minutes 0.34 --mode bridge --task denoise --model denoise16k --in-rate 0
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from jackserver import PERIOD, RATE, JackServer, PlayRecordClient, late_clients  # noqa: E402

BURST = 4096  # samples of noise per burst
BURST_EVERY = RATE  # one burst per second


def burst_train(seconds: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    signal = np.zeros(round(seconds * RATE), np.float32)
    burst = (0.25 * rng.standard_normal(BURST)).astype(np.float32)
    for pos in range(0, len(signal) - BURST, BURST_EVERY):
        signal[pos : pos + BURST] = burst
    return signal, burst


def burst_delays(recording: np.ndarray, start: int, signal: np.ndarray, burst: np.ndarray) -> list[int]:
    """Delay (frames) of every burst that came back whole."""
    delays = []
    for pos in range(0, len(signal) - BURST, BURST_EVERY):
        window = recording[start + pos : start + pos + BURST_EVERY // 2 + BURST]
        if len(window) < BURST_EVERY // 2 + BURST:
            break
        corr = np.correlate(window, burst, mode="valid")
        delays.append(int(np.argmax(np.abs(corr))))
    return delays


def run(minutes: float, mode: str, model: str, in_rate: int | None, extra: list[str]) -> dict:
    seconds = minutes * 60.0
    signal, burst = burst_train(seconds - 2.0)
    with JackServer() as server, tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "rtaudio.cli", mode, "--model", model, "--duration", str(seconds), "--json"]
        cmd += ["--json-log", str(Path(tmp) / "log.jsonl"), *extra]
        if in_rate:
            cmd += ["--in-rate", str(in_rate)]
        if mode == "bridge":
            cmd += ["--name", "rtaudio", "--connect-in", "tester:out", "--connect-out", "tester:in"]
        ports = ("PortAudio:in_0", "PortAudio:out_0") if mode == "live" else ("rtaudio:in_1", "rtaudio:out_1")
        with PlayRecordClient("tester", seconds + 10) as tester:
            proc = subprocess.Popen(cmd, env=server.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            try:
                tester.wait_for_port(ports[1], proc=proc)
                if mode == "live":
                    tester.client.connect(tester.out, ports[0])
                    tester.client.connect(ports[1], tester.inp)
                time.sleep(0.5)
                start = tester.play(signal)
                out, err = proc.communicate(timeout=seconds + 120)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.communicate()
            recording = tester.recording[: tester.recorded].copy()
            tester_xruns = len(tester.xruns)
        if proc.returncode != 0:
            raise SystemExit(f"rtaudio {mode} failed: {err.strip()}")
        summary = json.loads(out)
        late = late_clients(server.log())
    delays = burst_delays(recording, start, signal, burst)
    reported = round(summary["latency_ms"] * RATE / 1000)
    if mode == "bridge":
        reported += PERIOD  # the test client's loop through the graph; live's device latency already has it
    expected_delays = [d for d in delays if d == reported]
    return {
        "scenario": "live_stability",
        "mode": mode,
        "model": summary["model"],
        "in_rate": summary["in_rate"],
        "minutes": minutes,
        "server": f"jackd --no-realtime -d dummy -r {RATE} -p {PERIOD}",
        "xruns": {
            key: summary[key]
            for key in ("xruns", "input_overflows", "output_underflows", "ring_overflows", "ring_underflows")
        },
        "server_xruns_seen_by_test_client": tester_xruns,
        "late_clients": late,
        "latency_growths": summary["latency_growths"],
        "reported_delay_frames": reported,
        "measured_delay_frames": {
            "bursts": len(delays),
            "first": delays[0] if delays else None,
            "last": delays[-1] if delays else None,
            "min": min(delays) if delays else None,
            "max": max(delays) if delays else None,
            "drift": (max(delays) - min(delays)) if delays else None,
            "bursts_at_reported_delay": len(expected_delays),
        },
        "rtf_mean": summary["rtf_mean"],
        "chunk_p50_ms": summary["chunk_p50_ms"],
        "chunk_p99_ms": summary["chunk_p99_ms"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=1.0, help="run length (default 1)")
    parser.add_argument("--mode", choices=("live", "bridge"), default="live")
    parser.add_argument("--task", default="upsample", help="rtaudio --task (default upsample)")
    parser.add_argument("--model", default="sinc")
    parser.add_argument(
        "--in-rate", type=int, default=16000, help="declared source band (default 16000; 0: none, for other tasks)"
    )
    parser.add_argument("--adaptive", action="store_true", help="pass --adaptive to rtaudio")
    args = parser.parse_args(argv)
    if args.minutes <= 0:
        parser.error("--minutes must be positive")
    extra = ["--task", args.task] + (["--adaptive"] if args.adaptive else [])
    result = run(args.minutes, args.mode, args.model, args.in_rate, extra)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
