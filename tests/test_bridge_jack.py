"""``rtaudio bridge`` on a real JACK server: its ports, its reported latency, its audio."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

jack = pytest.importorskip("jack")
from jackserver import (  # noqa: E402
    ATTEMPTS,
    PERIOD,
    RATE,
    JackServer,
    PlayRecordClient,
    aligned_snr,
    file_mode,
    measured_lag,
    noise,
    resynthesis_match,
)

import rtaudio  # noqa: E402
from rtaudio.live.jack_bridge import CAPTURE, PLAYBACK, port_latency  # noqa: E402
from rtaudio.registry import default_model  # noqa: E402

ASSETS = Path(rtaudio.__file__).parent / "assets"
HALF_MEL_HOP_MS = 6.25  # the vocoder's mel hop is 300 samples at 24 kHz

pytestmark = [pytest.mark.jack]


@pytest.fixture(scope="module")
def server():
    """A ``--sync`` server: late clients delay the graph instead of losing audio (see test_live_jack)."""
    with JackServer(sync=True) as srv:
        yield srv


def start_bridge(server: JackServer, name: str, args: list[str], seconds: float, wire: bool = True) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "rtaudio.cli", "bridge", "--name", name, *args, "--duration", str(seconds), "--json"]
    if wire:
        cmd += ["--connect-in", "tester:out", "--connect-out", "tester:in"]
    return subprocess.Popen(cmd, env=server.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_connected(tester: PlayRecordClient, port: str, proc: subprocess.Popen, timeout: float = 20.0) -> None:
    tester.wait_for_port(port, timeout, proc)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if tester.inp.is_connected_to(port):
            return
        time.sleep(0.05)
    raise TimeoutError(f"{port} was not connected to the test client")


def own_delays(tester: PlayRecordClient, name: str, timeout: float = 5.0) -> tuple[tuple, tuple]:
    """The (min, max) capture and playback delay the bridge adds between its ports, once JACK
    has computed latencies after the connections (it does so asynchronously)."""

    def delays():
        lat = {(p, m): port_latency(tester.client, f"{name}:{p}_1", m) for p in ("in", "out") for m in (0, 1)}
        capture = tuple(np.subtract(lat["out", CAPTURE], lat["in", CAPTURE]).tolist())
        playback = tuple(np.subtract(lat["in", PLAYBACK], lat["out", PLAYBACK]).tolist())
        return capture, playback

    deadline = time.monotonic() + timeout
    while (found := delays())[0] == (0, 0) and time.monotonic() < deadline:
        time.sleep(0.05)
    return found


def finish(proc: subprocess.Popen, timeout: float) -> dict:
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    return json.loads(out)


def test_bridge_reports_latency_and_matches_file_mode(server, tmp_path):
    signal = noise(3.0, seed=2)
    record = tmp_path / "bridge.wav"
    with PlayRecordClient("tester", 16.0) as tester:
        proc = start_bridge(server, "rtb", ["--model", "sinc", "--in-rate", "16000", "--record", str(record)], 5.0)
        wait_connected(tester, "rtb:out_1", proc)
        # JACK's rule: a port's latency is its neighbour's plus the client's own delay (the
        # test client sets none, so on this loop its ports echo the bridge's ranges)
        capture, playback = own_delays(tester, "rtb")
        time.sleep(0.3)
        start = tester.play(signal)
        summary = finish(proc, 60)
        tester_run = (tester.recording[: tester.recorded].copy(), start, list(tester.xruns))
    reported = round((summary["engine_latency_ms"] + summary["buffer_latency_ms"]) * RATE / 1000)
    assert capture == (reported, reported) and playback == (reported, reported)
    # the test client's own loop through the graph adds one period
    assert measured_lag(tester_run, signal) == reported + PERIOD
    recorded = sf.read(record, dtype="float32")[0]
    heard, recorded_snr = aligned_snr(tester_run, reported + PERIOD, recorded, signal, "sinc", 16000)
    assert heard >= 30.0 and recorded_snr >= 30.0, (heard, recorded_snr, summary)
    assert summary["mode"] == "bridge" and summary["ring_underflows"] == 0


def test_bridge_vocode_resynthesis_at_the_reported_latency(server):
    """``--task vocode`` through the bridge: what comes back, at the reported latency plus the test
    client's period, is file mode's resynthesis of the speech that went in, to the millisecond."""
    model = default_model("vocode", RATE)
    speech = sf.read(ASSETS / "demo_speech_48k.flac", dtype="float32")[0][: 3 * RATE]
    for _attempt in range(ATTEMPTS):
        with PlayRecordClient("tester", 16.0) as tester:
            proc = start_bridge(server, "rtv", ["--task", "vocode"], 5.0)
            wait_connected(tester, "rtv:out_1", proc)
            time.sleep(0.3)
            start = tester.play(speech)
            summary = finish(proc, 60)
            recording = tester.recording[: tester.recorded].copy()
        if not tester.xruns and summary["ring_underflows"] == 0:
            break  # a run that lost audio and said so is retried
    reported = round((summary["engine_latency_ms"] + summary["buffer_latency_ms"]) * RATE / 1000)
    heard = recording[start + reported + PERIOD : start + reported + PERIOD + len(speech)]
    aligned, late, lag_ms = resynthesis_match(file_mode(speech, model, RATE, "vocode"), heard)
    assert summary["model"] == model and summary["ring_underflows"] == 0, summary
    # the resynthesis depends on where the speech falls on the mel grid (hop 12.5 ms), which
    # moves its envelope by up to half a hop against file mode's; more would be a latency error
    assert aligned < 0.5 * late and abs(lag_ms) <= HALF_MEL_HOP_MS, (aligned, late, lag_ms, summary)


def test_bridge_follows_a_buffer_size_change(server):
    with PlayRecordClient("tester", 16.0) as tester:
        proc = start_bridge(server, "rtbs", ["--model", "sinc"], 4.0, wire=False)
        tester.wait_for_port("rtbs:out_1", proc=proc)
        before = own_delays(tester, "rtbs")[0][0]
        tester.client.blocksize = 2 * PERIOD
        deadline = time.monotonic() + 5
        while own_delays(tester, "rtbs")[0][0] == before and time.monotonic() < deadline:
            time.sleep(0.05)
        after = own_delays(tester, "rtbs")[0][0]
        summary = finish(proc, 60)
        tester.client.blocksize = PERIOD
    # one device block is part of the bridge's delay: it grows with the period
    assert after == before + PERIOD
    assert summary["block"] == 2 * PERIOD
    assert round((summary["engine_latency_ms"] + summary["buffer_latency_ms"]) * RATE / 1000) == after


def test_bridge_ports_follow_channels(server):
    proc = subprocess.Popen(
        [sys.executable, "-m", "rtaudio.cli", "bridge", "--name", "rtc", "--model", "sinc", "--channels", "2"]
        + ["--duration", "2", "--json"],
        env=server.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    client = jack.Client("lister", no_start_server=True)
    try:
        deadline = time.monotonic() + 20
        while not client.get_ports("rtc:out_2") and time.monotonic() < deadline:
            time.sleep(0.05)
        names = sorted(p.name for p in client.get_ports("rtc:"))
    finally:
        client.close()
    summary = finish(proc, 30)
    assert names == ["rtc:in_1", "rtc:in_2", "rtc:out_1", "rtc:out_2"]
    assert summary["channels"] == 2
    assert np.isfinite(summary["latency_ms"])


def test_bridge_server_shutdown_is_a_one_line_error(tmp_path):
    """A killed server: one error line, exit 1, and still the JSON summary, a final log line, a complete take."""
    log, record = tmp_path / "bridge.jsonl", tmp_path / "take.wav"
    with JackServer() as own:
        cmd = [sys.executable, "-m", "rtaudio.cli", "bridge", "--name", "rtd", "--model", "sinc", "--duration", "30"]
        cmd += ["--json", "--json-log", str(log), "--record", str(record)]
        proc = subprocess.Popen(cmd, env=own.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 30
        while not (log.exists() and log.read_text().count("\n")) and time.monotonic() < deadline:
            if proc.poll() is not None:
                break
            time.sleep(0.05)  # until the session runs: its first stats line
    out, err = proc.communicate(timeout=30)  # the server is gone now
    assert proc.returncode == 1
    assert err.strip().splitlines() == [err.strip()] and "JACK server shut down" in err
    summary = json.loads(out)
    assert "JACK server shut down" in summary["error"]
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert lines[-1]["final"] is True and "JACK server shut down" in lines[-1]["error"]
    assert not any(line.get("final") for line in lines[:-1])
    assert sf.info(str(record)).frames == summary["record"]["frames"] > 0
