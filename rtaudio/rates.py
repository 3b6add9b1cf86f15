"""Sample-rate constants shared by the runtime and the training side (defined here, once).

``export/`` imports these; the runtime never imports ``export``.
"""

from __future__ import annotations

#: the shipped upsampler's model rate: every band extension runs on the 48 kHz timeline
MODEL_RATE = 48000
#: (input band rate, output rate) pairs every band-extension network serves (the 8 kHz band runs
#: 8 -> 48 kHz through the network; 8 -> 16 resamples that result)
BAND_EXTENSION_PAIRS: tuple[tuple[int, int], ...] = ((16000, 48000), (24000, 48000), (8000, 48000), (8000, 16000))
#: the pairs ``rtaudio bench --task upsample`` reports: wideband, super-wideband, narrowband restoration
UPSAMPLE_BENCH_PAIRS: tuple[tuple[int, int], ...] = ((16000, 48000), (24000, 48000), (8000, 16000))
#: rate of the shipped held-out evaluation clips (full-band speech)
EVAL_RATE = 48000
