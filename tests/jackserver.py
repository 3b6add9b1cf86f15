"""Test helpers: a private JACK server (dummy driver), a JACK test client that plays and records,
and the comparisons of what came back with file mode.

The server is real: ``jackd --no-realtime -d dummy -r 48000 -p 256`` runs the JACK graph on
a real-time clock without a sound card. Each server gets a unique name, passed to clients
through ``JACK_DEFAULT_SERVER``; ``JACK_NO_AUDIO_RESERVATION=1`` keeps it off D-Bus.
"""

from __future__ import annotations

import contextlib
import glob
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
import uuid

import numpy as np

import rtaudio

RATE = 48000
PERIOD = 256
#: runs a real-time check may take when a run lost audio and said so (server xruns, or rtaudio's
#: own counted underflows): on a shared 2-core VM a neighbour's burst can starve any client, so
#: a clean run is what is judged; one that loses audio on every try fails
ATTEMPTS = 3


class JackServer:
    """Starts a dummy-driver jackd under a unique name; use as a context manager.

    While running, ``os.environ`` points JACK clients of this process (and of child
    processes started with :attr:`env`) at it.
    """

    def __init__(self, rate: int = RATE, period: int = PERIOD, timeout: float = 10.0, sync: bool = False) -> None:
        self.rate, self.period, self.timeout, self.sync = rate, period, timeout, sync
        self.name = f"rtaudio-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.env = {**os.environ, "JACK_NO_AUDIO_RESERVATION": "1", "JACK_DEFAULT_SERVER": self.name}
        self._proc: subprocess.Popen | None = None
        self._saved_env: dict[str, str | None] = {}
        self.log_path = os.path.join(tempfile.gettempdir(), f"{self.name}.log")

    def __enter__(self) -> JackServer:
        if shutil.which("jackd") is None:
            raise RuntimeError("jackd not found (Debian package jackd2)")
        cmd = ["jackd", "--no-realtime", *(["--sync"] if self.sync else [])]
        cmd += ["-d", "dummy", "-r", str(self.rate), "-p", str(self.period)]
        with open(self.log_path, "w") as log:
            self._proc = subprocess.Popen(cmd, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        for key in ("JACK_NO_AUDIO_RESERVATION", "JACK_DEFAULT_SERVER"):
            self._saved_env[key] = os.environ.get(key)
            os.environ[key] = self.env[key]
        try:
            self._wait_ready()
        except BaseException:
            self.__exit__()
            raise
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                raise RuntimeError(f"jackd exited early: {self.log()[-2000:]}")
            probe = subprocess.run(["jack_lsp"], env=self.env, capture_output=True, text=True)
            if probe.returncode == 0 and "system:playback_1" in probe.stdout:
                return
            time.sleep(0.1)
        raise RuntimeError(f"jackd did not start within {self.timeout} s: {self.log()[-2000:]}")

    def log(self) -> str:
        """Everything the server printed so far."""
        with open(self.log_path) as f:
            return f.read()

    def __exit__(self, *exc: object) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        # the server's log and the semaphores of clients it had when stopped
        leftovers = [self.log_path, *glob.glob(f"/dev/shm/jack*{glob.escape(self.name)}*")]
        for path in leftovers:
            with contextlib.suppress(OSError):
                os.unlink(path)


class PlayRecordClient:
    """A JACK client with one output and one input port: plays ``signal`` once, records ``seconds``.

    Recording starts at activation; :meth:`play` schedules the signal to start at the
    next cycle and returns that cycle's index in the recording, so a port-to-port delay
    is ``index_in_recording - play_start``.
    """

    def __init__(self, name: str, seconds: float) -> None:
        import jack

        self.client = jack.Client(name, no_start_server=True)
        self.rate = self.client.samplerate
        self.out = self.client.outports.register("out")
        self.inp = self.client.inports.register("in")
        self.recording = np.zeros(round(seconds * self.rate), dtype=np.float32)
        self.recorded = 0
        self.signal = np.zeros(0, dtype=np.float32)
        self.play_start: int | None = None
        self._play_requested = False
        self._started = threading.Event()
        #: recording positions (frames) at which the server reported an xrun
        self.xruns: list[int] = []
        self.client.set_process_callback(self._process)
        self.client.set_xrun_callback(lambda _delay: self.xruns.append(self.recorded))

    def _process(self, frames: int) -> None:
        if self._play_requested and self.play_start is None:
            self.play_start = self.recorded
            self._started.set()
        out = self.out.get_array()
        out[:] = 0.0
        if self.play_start is not None:
            pos = self.recorded - self.play_start
            chunk = self.signal[pos : pos + frames]
            out[: len(chunk)] = chunk
        n = min(frames, len(self.recording) - self.recorded)
        self.recording[self.recorded : self.recorded + n] = self.inp.get_array()[:n]
        self.recorded += n

    def __enter__(self) -> PlayRecordClient:
        self.client.activate()
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.deactivate()
        self.client.close()

    def wait_for_port(self, name: str, timeout: float = 20.0, proc: subprocess.Popen | None = None) -> None:
        """Wait until port ``name`` exists; fail early with its stderr if ``proc`` exits first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.client.get_ports(name):
                return
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(f"exited with {proc.returncode} before {name} appeared: {proc.communicate()[1]}")
            time.sleep(0.05)
        raise TimeoutError(f"JACK port {name} did not appear within {timeout} s")

    def play(self, signal: np.ndarray) -> int:
        self.signal = np.asarray(signal, dtype=np.float32)
        self._play_requested = True
        if not self._started.wait(5):
            raise TimeoutError("the test client's process callback is not running")
        assert self.play_start is not None
        return self.play_start

    def wait_recorded(self, frames: int, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while self.recorded < frames and time.monotonic() < deadline:
            time.sleep(0.05)


# -- comparing what came back with file mode -----------------------------------------------
def noise(seconds: float, seed: int = 0) -> np.ndarray:
    """Full-band noise: every sample matters, and cross-correlation has one sharp peak."""
    rng = np.random.default_rng(seed)
    return np.clip(0.2 * rng.standard_normal(round(seconds * RATE)), -0.9, 0.9).astype(np.float32)


def stream_offset(record: np.ndarray, expected: np.ndarray) -> int:
    """Where the signal starts in rtaudio's own stream: --record is its engine output, sample-aligned
    with its input, so a cross-correlation with the expected output (file mode's, which for a
    vocoder is a resynthesis, not the input) finds the input offset the test client cannot see."""
    corr = np.correlate(record[: 3 * RATE], expected[:8192], mode="valid")
    return int(np.argmax(np.abs(corr)))


def file_mode(x: np.ndarray, model: str, in_rate: int, task: str = "upsample") -> np.ndarray:
    """What ``rtaudio stream`` computes for ``x`` at the device rate."""
    p = rtaudio.open(task, model, rate=RATE, in_rate=in_rate, out_rate=RATE)
    return np.concatenate([p.process(x), p.flush()])


def aligned_snr(tester_run, latency, record, signal, model, in_rate, task="upsample") -> tuple[float, float]:
    """SNR (dB) against file mode of the stream rtaudio captured: of what the test client heard
    (aligned by the reported ``latency``), and of rtaudio's --record.

    ``tester_run`` is ``(recording, play_start, xrun_positions)``.
    """
    recording, start, _ = tester_run
    offset = stream_offset(record, file_mode(signal, model, in_rate, task))
    ref = file_mode(np.concatenate([np.zeros(offset, np.float32), signal]), model, in_rate, task)[offset:]
    heard = recording[start + latency : start + latency + len(signal)]
    recorded = record[offset : offset + len(signal)]
    assert len(heard) == len(recorded) == len(signal), "recording too short for the aligned signal"
    return snr_db(ref, heard), snr_db(ref, recorded)


def resynthesis_match(ref: np.ndarray, heard: np.ndarray) -> tuple[float, float, int]:
    """How well ``heard`` matches file mode's resynthesis ``ref`` (both at ``RATE``, aligned by
    the reported latency) where sample-exact comparison is impossible (a vocoder's output is
    not shift-invariant: its mel frames sit on an absolute grid).

    Returns the log-mel L1 between them, the same for ``heard`` 40 ms late (the scale of a
    real misalignment), and the lag (ms) at which their 1 ms loudness envelopes correlate best.
    """
    import soxr

    from rtaudio.metrics_vocode import log_mel_l1

    ref24, heard24 = (soxr.resample(x, RATE, 24000, quality="VHQ") for x in (ref, heard))
    aligned = log_mel_l1(ref24, heard24)
    late = log_mel_l1(ref24[960:], heard24[:-960])
    hop = RATE // 1000

    def envelope(x: np.ndarray) -> np.ndarray:
        return np.log10(np.mean(x[: len(x) // hop * hop].reshape(-1, hop) ** 2, axis=1) + 1e-9)

    e_ref, e_heard = envelope(ref), envelope(heard)
    m, n = 50, min(len(e_ref), len(e_heard)) - 50
    lags = list(range(-40, 41))
    corr = [np.corrcoef(e_ref[m + k : n + k], e_heard[m:n])[0, 1] for k in lags]
    return aligned, late, -lags[int(np.argmax(corr))]


def snr_db(ref: np.ndarray, est: np.ndarray) -> float:
    return float(10 * np.log10(np.sum(ref**2) / max(np.sum((ref - est) ** 2), 1e-20)))


def measured_lag(tester_run, signal: np.ndarray) -> int:
    """Delay from the test client's output to its input, by cross-correlation."""
    recording, start, _ = tester_run
    probe = signal[:8192]
    corr = np.correlate(recording[start : start + RATE], probe, mode="valid")
    return int(np.argmax(np.abs(corr)))


def late_clients(log: str) -> dict[str, int]:
    """How often the server found each client unfinished at a deadline (from its log)."""
    counts: dict[str, int] = {}
    for name in re.findall(r"client = (\S+) was not finished", log):
        counts[name] = counts.get(name, 0) + 1
    return counts
