"""``rtaudio devices`` and the one-line errors of live and bridge, run as the real CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import pytest
from jackserver import JackServer

pytestmark = [pytest.mark.jack]


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "rtaudio.cli", *args], env=env, capture_output=True, text=True, timeout=60
    )


def no_server_env() -> dict[str, str]:
    # a server name nobody runs: JACK clients (and PortAudio's JACK host API) find no server
    return {**os.environ, "JACK_NO_AUDIO_RESERVATION": "1", "JACK_DEFAULT_SERVER": f"absent-{uuid.uuid4().hex}"}


def assert_one_line_error(result: subprocess.CompletedProcess, code: int, *fragments: str) -> None:
    lines = result.stderr.strip().splitlines()
    assert result.returncode == code, result.stderr
    assert len(lines) == 1 and lines[0].startswith("rtaudio: error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


@pytest.fixture(scope="module")
def server():
    with JackServer() as srv:
        yield srv


def test_devices_lists_jack_device_with_defaults(server):
    result = cli("devices", "--json", env=server.env)
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    jack_api = next(api for api in found["host_apis"] if api["name"].startswith("JACK"))
    (dev,) = (d for d in found["devices"] if d["index"] in jack_api["devices"])
    assert dev["max_input_channels"] == 2 and dev["max_output_channels"] == 2
    assert dev["default_samplerate"] == 48000 and dev["default_input"] and dev["default_output"]
    table = cli("devices", env=server.env)
    assert table.returncode == 0 and "JACK Audio Connection Kit" in table.stdout and "48000 Hz" in table.stdout


def test_live_missing_device(server):
    assert_one_line_error(cli("live", "--model", "sinc", "--input", "no-such-mic", env=server.env), 2, "no-such-mic")


def test_live_unsupported_rate(server):
    result = cli("live", "--model", "sinc", "--rate", "44100", "--duration", "1", env=server.env)
    assert_one_line_error(result, 2, "44100 Hz")


def test_live_unsupported_channel_count(server):
    result = cli("live", "--model", "sinc", "--channels", "3", "--duration", "1", env=server.env)
    assert_one_line_error(result, 2, "3 requested")


def test_bridge_unknown_port(server):
    result = cli("bridge", "--model", "sinc", "--connect-in", "nobody:out", "--duration", "1", env=server.env)
    assert_one_line_error(result, 2, "nobody:out")


def test_live_without_any_device():
    assert_one_line_error(cli("live", "--model", "sinc", env=no_server_env()), 2, "no default input device")


def test_bridge_without_server():
    result = cli("bridge", "--model", "sinc", "--duration", "1", env=no_server_env())
    assert_one_line_error(result, 1, "no JACK server is running")


def test_bad_latency_option():
    assert_one_line_error(cli("live", "--latency", "soon", env=no_server_env()), 2, "--latency")


def test_file_mode_needs_neither_portaudio_nor_jack(tmp_path):
    code = (
        "import sys, numpy as np, rtaudio, rtaudio.cli\n"
        "rtaudio.cli.build_parser()\n"
        "p = rtaudio.open('upsample', 'sinc', rate=16000)\n"
        "p.process(np.zeros(1000, np.float32)); p.flush()\n"
        "assert 'sounddevice' not in sys.modules and 'jack' not in sys.modules, 'imported eagerly'\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
