"""The upsampler's music corpus (export/music.py): composed pieces, held out by instrument."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from export.music import BASS, CHORDS, DRUM_CHANNEL, HELDOUT_PROGRAMS, MELODY, compose


def _programs(events: list[tuple[float, bytes]]) -> set[int]:
    return {msg[1] for _, msg in events if msg[0] & 0xF0 == 0xC0}


def test_a_piece_is_seeded_bounded_and_releases_every_note() -> None:
    programs = {"melody": MELODY, "chords": CHORDS, "bass": BASS}
    a = compose(np.random.default_rng(7), 12.0, programs)
    assert a == compose(np.random.default_rng(7), 12.0, programs)
    assert a != compose(np.random.default_rng(8), 12.0, programs)
    assert max(t for t, m in a if m[0] & 0xF0 == 0x90) < 12.0
    held: dict[tuple[int, int], int] = {}
    for _, msg in sorted(a, key=lambda e: e[0]):
        key = (msg[0] & 0x0F, msg[1])
        if msg[0] & 0xF0 == 0x90:
            held[key] = held.get(key, 0) + 1
        elif msg[0] & 0xF0 == 0x80:
            held[key] = held.get(key, 0) - 1
    # fluidsynth renders a file until every voice has ended: a note never released never ends
    assert all(v <= 0 for v in held.values())


def test_heldout_instruments_never_play_in_training_pieces() -> None:
    train = {"melody": MELODY, "chords": CHORDS, "bass": BASS}
    heldout = {p for progs in HELDOUT_PROGRAMS.values() for p in progs}
    assert not heldout & set(MELODY + CHORDS + BASS)
    for seed in range(20):
        assert not _programs(compose(np.random.default_rng(seed), 4.0, train)) & heldout
        assert _programs(compose(np.random.default_rng(seed), 4.0, HELDOUT_PROGRAMS)) <= heldout


@pytest.mark.skipif(shutil.which("fluidsynth") is None, reason="needs Debian fluidsynth + fluid-soundfont-gm")
def test_a_rendered_piece_is_full_band() -> None:
    from export.music import MIN_BANDWIDTH, render_piece

    x, _, bandwidth = render_piece(1000, 4.0, {"melody": MELODY, "chords": CHORDS, "bass": BASS})
    assert len(x) == 4 * 48000 and 0.49 < np.abs(x).max() <= 0.5
    assert bandwidth >= MIN_BANDWIDTH
    assert DRUM_CHANNEL == 9
