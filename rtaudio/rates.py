"""Sample-rate constants shared by the runtime and the training side (defined here, once).

``export/`` imports these; the runtime never imports ``export``.
"""

from __future__ import annotations

#: the shipped upsampler's model rate: every band extension runs on the 48 kHz timeline
MODEL_RATE = 48000
