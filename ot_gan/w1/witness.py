"""The witness samples: the held-out samples a trained critic scores highest and lowest.

The critic f is a witness function: E_P f - E_Q f is the distance, so f is high where P has more
mass than Q and low where Q has more. The first set's held-out samples of highest f show what it
has that the second lacks, the second set's of lowest f the reverse (docs/algorithms.md section 13).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ot_gan.w1.checks import Array
from ot_gan.w1.result import W1Result
from ot_gan.w1.two_sample import heldout_values

ENDS = {  # (set, end): what those samples show
    ("a", "highest"): "what the first set has that the second lacks",
    ("b", "lowest"): "what the second set has that the first lacks",
    ("a", "lowest"): "the first set's samples most like the second",
    ("b", "highest"): "the second set's samples most like the first",
}


@dataclass
class Witness:
    """Held-out samples of one set at one end of the critic's scale, the most extreme first:
    ``index`` into the set as given, ``value`` the critic's (1-Lipschitz potential's) value."""

    set: str  # "a" (the first set) or "b"
    end: str  # "highest" or "lowest"
    index: np.ndarray
    value: np.ndarray

    @property
    def meaning(self) -> str:
        return ENDS[self.set, self.end]


def witness_samples(result: W1Result, x: Array, y: Array, a: Array | None = None, b: Array | None = None,
                    count: int = 64) -> list[Witness]:
    """The ``count`` held-out samples of each set (of positive weight) that the critic of
    ``result`` (a critic method's, fitted on x, y, a, b) scores highest and lowest, in the order
    of ``ENDS``: the first set's highest and the second's lowest lead."""
    held = dict(zip("ab", heldout_values(result, x, y, a, b)))
    out = []
    for side, end in ENDS:
        index, values, _ = held[side]
        order = np.argsort(-values if end == "highest" else values, kind="stable")[:count]
        out.append(Witness(side, end, index[order], values[order]))
    return out
