"""The corner plot shows the draws it is given."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np

import bayesphot as bp


class FakePosterior:
    def __init__(self, draws: dict[str, np.ndarray]) -> None:
        self._draws = draws
        self.names = list(draws)

    def draws(self, name: str) -> np.ndarray:
        return self._draws[name]


def test_corner_marginals_match_draws() -> None:
    rng = np.random.default_rng(3)
    draws = {"g:n": rng.normal(2.0, 0.1, 500), "g:Re": rng.normal(5.0, 0.3, 500), "g:logI": rng.normal(size=(500, 4))}
    fig = bp.plots.corner(FakePosterior(draws), bins=20)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert len(visible) == 3  # the vector parameter is skipped: 2 marginals + 1 pair
    counts, _ = np.histogram(draws["g:n"], bins=20)
    polygon = visible[0].patches[0].get_xy()  # stepfilled histogram outline
    assert polygon[:, 1].max() == counts.max()
    assert "2" in visible[0].get_title() and "g:n" in visible[0].get_title()
