"""ITU-R BS.1770 (EBU R128) loudness of short clips, measured on the exact samples a caller hears.

ffmpeg's ebur128 measures long prompts well, but a digit or a two-word prompt fills
only part of a 400 ms block: measured before trimming, the silence around it dilutes
the blocks and the clip comes out up to 3 LU too loud after normalising. Here the
trimmed samples are measured directly; a clip shorter than one block is one block.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

ABSOLUTE_GATE = -70.0
RELATIVE_GATE = 10.0
BLOCK_SECONDS = 0.4
STEP_SECONDS = 0.1  # 75 % overlap


def _biquad(samples: Sequence[float], b: tuple[float, float, float], a: tuple[float, float]) -> list[float]:
    b0, b1, b2 = b
    a1, a2 = a
    x1 = x2 = y1 = y2 = 0.0
    out = []
    for x in samples:
        y = b0 * x + b1 * x1 + b2 * x2 - a1 * y1 - a2 * y2
        x2, x1, y2, y1 = x1, x, y1, y
        out.append(y)
    return out


def _k_filters(rate: int) -> list[tuple[tuple[float, float, float], tuple[float, float]]]:
    """The K-weighting pre-filter (high shelf) and RLB high-pass, designed for ``rate``."""
    gain_db, q1, f1 = 3.999843853973347, 0.7071752369554196, 1681.974450955533
    a = 10 ** (gain_db / 40)
    w = 2 * math.pi * f1 / rate
    alpha = math.sin(w) / (2 * q1)
    cos_w, root = math.cos(w), 2 * math.sqrt(a) * alpha
    a0 = (a + 1) - (a - 1) * cos_w + root
    shelf = (
        (a * ((a + 1) + (a - 1) * cos_w + root) / a0,
         -2 * a * ((a - 1) + (a + 1) * cos_w) / a0,
         a * ((a + 1) + (a - 1) * cos_w - root) / a0),
        (2 * ((a - 1) - (a + 1) * cos_w) / a0, ((a + 1) - (a - 1) * cos_w - root) / a0),
    )
    q2, f2 = 0.5003270373238773, 38.13547087602444
    w = 2 * math.pi * f2 / rate
    alpha = math.sin(w) / (2 * q2)
    a0 = 1 + alpha
    cos_w = math.cos(w)
    highpass = (
        ((1 + cos_w) / 2 / a0, -(1 + cos_w) / a0, (1 + cos_w) / 2 / a0),
        (-2 * cos_w / a0, (1 - alpha) / a0),
    )
    return [shelf, highpass]


def integrated_loudness(samples: Sequence[float], rate: int) -> float:
    """LUFS of mono float samples (full scale 1.0)."""
    weighted: Sequence[float] = samples
    for b, a in _k_filters(rate):
        weighted = _biquad(weighted, b, a)
    squares = [y * y for y in weighted]
    block, step = int(BLOCK_SECONDS * rate), int(STEP_SECONDS * rate)
    if len(squares) <= block:
        powers = [math.fsum(squares) / max(len(squares), 1)]
    else:
        powers = [math.fsum(squares[i:i + block]) / block for i in range(0, len(squares) - block + 1, step)]

    def lufs(power: float) -> float:
        return -0.691 + 10 * math.log10(power) if power > 0 else -120.0

    gated = [p for p in powers if lufs(p) > ABSOLUTE_GATE]
    if not gated:
        return -120.0
    threshold = lufs(sum(gated) / len(gated)) - RELATIVE_GATE
    gated = [p for p in gated if lufs(p) > threshold]
    return lufs(sum(gated) / len(gated))
