"""Synthetic loss curves of range tests, and one thread for the small torch models."""

from __future__ import annotations

import numpy as np

LADDER = np.geomspace(1e-6, 10.0, 100)  # 100 rungs over 7 decades, as a default sweep


def plateau_descent_blowup(noise: float = 0.0, seed: int = 0, centre: float = 1e-3) -> list[float]:
    """2.3 on a plateau, a descent centred at ``centre`` down to 0.3, a blow-up after 1e-1."""
    x = np.log10(LADDER)
    descent = 2.0 / (1.0 + np.exp(-(x - np.log10(centre)) * 3.0))
    blowup = np.exp(np.clip((x + 1.0) * 4.0, None, 30.0)) - 1.0
    loss = 2.3 - descent + np.where(x > -1.0, blowup, 0.0)
    jitter = np.random.default_rng(seed).normal(0.0, noise, len(x))
    return list(loss * np.exp(jitter))
