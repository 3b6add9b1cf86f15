"""Diffusion noise keyed to absolute sample position.

Overlapping chunks of a stream must denoise the *same* noise realisation, otherwise
streamed output cannot converge to whole-file output. The noise is generated in fixed
blocks by a counter-based RNG (Philox): block ``b`` of stream ``stream`` under seed
``seed`` is always the same numbers, whatever window asks for it.
"""

from __future__ import annotations

import numpy as np

#: Samples per RNG block. Windows are assembled from whole blocks, so the value only
#: trades a little wasted generation against the number of generator constructions.
NOISE_BLOCK = 4096

_MASK64 = (1 << 64) - 1


def _block(seed: int, stream: int, index: int) -> np.ndarray:
    # Philox takes a 128-bit key and counter; the key separates (seed, stream) and the
    # counter's high word selects the block so blocks never overlap.
    key = np.array([seed & _MASK64, stream & _MASK64], dtype=np.uint64)
    counter = np.array([0, 0, 0, index & _MASK64], dtype=np.uint64)
    bits = np.random.Philox(key=key, counter=counter)
    return np.random.Generator(bits).standard_normal(NOISE_BLOCK, dtype=np.float32)


def position_noise(seed: int, stream: int, start: int, length: int) -> np.ndarray:
    """Standard-normal noise for absolute samples ``[start, start + length)``.

    Parameters
    ----------
    seed
        Per-stream user seed (``--seed``).
    stream
        Distinguishes independent noise sequences under one seed, e.g. derived from
        (channel, diffusion step).
    start
        Absolute index of the first sample; may be negative (before stream start).
    length
        Number of samples.

    Returns
    -------
    numpy.ndarray
        float32 array of shape ``(length,)``. ``position_noise(s, k, a, n)[i]`` equals
        ``position_noise(s, k, a + i, 1)[0]`` for every ``i``.
    """
    if length <= 0:
        return np.zeros(0, dtype=np.float32)
    first = start // NOISE_BLOCK
    last = (start + length - 1) // NOISE_BLOCK
    blocks = [_block(seed, stream, b) for b in range(first, last + 1)]
    joined = np.concatenate(blocks) if len(blocks) > 1 else blocks[0]
    offset = start - first * NOISE_BLOCK
    return joined[offset : offset + length].copy()
