"""The stages shared by ``bayesphot example`` and ``bayesphot fit``.

initialise → LM (MAP, Laplace σ) → optionally NUTS, printing each stage with
its wall time and writing, into one folder: the model (YAML) after each
stage, the posterior (NetCDF), a summary table (ECSV) and one figure per stage.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

#: help of ``--psf-kind`` (``bayesphot fit`` and ``bayesphot catalog``)
PSF_KIND_HELP = ("what the PSF file holds: sampled at pixel centres, or effective (pixel-integrated: a star cutout, "
                 "an ePSF, PSFEx) (default: the PSFKIND keyword, else sampled)")


def add_sampling_arguments(parser: argparse.ArgumentParser, chains: int, warmup: int, draws: int) -> None:
    """The NUTS options shared by the subcommands."""
    group = parser.add_argument_group("sampling (NUTS, started at the MAP with the Laplace covariance)")
    group.add_argument("--chains", type=int, default=chains, help="chains (default: %(default)s)")
    group.add_argument("--warmup", type=int, default=warmup,
                       help="step-size tuning iterations per chain (default: %(default)s)")
    group.add_argument("--draws", type=int, default=draws, help="posterior draws per chain (default: %(default)s)")
    group.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    group.add_argument("--backend", choices=("numpyro", "pyro"), default="numpyro",
                       help="numpyro (JAX, default) or pyro (torch)")
    group.add_argument("--no-progress", action="store_true",
                       help="no progress bar while sampling (a line every 10 s says it is still working)")


def say(text: str = "") -> None:
    print(text, flush=True)


class _Watched:
    """A text stream that remembers when it was last written to."""

    def __init__(self, stream: Any, clock: list[float]) -> None:
        self._stream = stream
        self._clock = clock

    def write(self, text: str) -> int:
        self._clock[0] = time.monotonic()
        return self._stream.write(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


@contextlib.contextmanager
def heartbeat(label: str, every: float = 10.0) -> Iterator[None]:
    """Print ``label`` and the elapsed time whenever nothing was printed for ``every`` seconds.

    Compilation (JAX) and the sampler's post-processing print nothing for
    tens of seconds; this keeps a long stage from looking stuck.  Progress
    bars and other output written meanwhile keep it quiet.
    """
    clock = [time.monotonic()]
    start = clock[0]
    out, err = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = _Watched(out, clock), _Watched(err, clock)
    done = threading.Event()

    def beat() -> None:
        while not done.wait(1.0):
            now = time.monotonic()
            if now - clock[0] >= every:
                clock[0] = now
                out.write(f"  … {label} ({now - start:.0f} s)\n")
                out.flush()

    thread = threading.Thread(target=beat, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
        sys.stdout, sys.stderr = out, err


class Workflow:
    """Run and report the stages of a fit of ``model`` into ``out``.

    Parameters
    ----------
    model : Model
        Component or group model with a target.
    out : Path
        Output folder (created).
    prefix : str
        File-name prefix of every output.
    figures : bool
        Write the PNG figures.
    """

    def __init__(self, model: Any, out: Path, prefix: str, figures: bool = True) -> None:
        self.model = model
        self.out = Path(out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.prefix = prefix
        self.figures = figures
        self.written: list[Path] = []
        self.fit: Any = None
        self.laplace: Any = None
        self.posterior: Any = None
        self._writer: Any = None
        self._pending: list[Any] = []

    # ----------------------------------------------------------- helpers
    def path(self, suffix: str) -> Path:
        p = self.out / f"{self.prefix}{suffix}"
        self.written.append(p)
        return p

    def save_figure(self, fig: Any, suffix: str) -> None:
        """Write ``fig`` as PNG in a background thread (rendering a figure takes 1–3 s of CPU,
        which then overlaps the next stage's compilation); :meth:`close` waits for every write."""
        import matplotlib.pyplot as plt

        plt.close(fig)  # out of pyplot's registry now: the writer thread owns the figure alone
        if self._writer is None:
            from concurrent.futures import ThreadPoolExecutor

            self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bayesphot-figures")
        self._pending.append(self._writer.submit(fig.savefig, self.path(suffix), dpi=80))

    def finish_figures(self) -> None:
        """Wait until every figure is written (raising the first error of any)."""
        pending, self._pending = self._pending, []
        for future in pending:
            future.result()

    # ------------------------------------------------------------ stages
    def describe_target(self, pixelscale_source: str) -> None:
        t = self.model.target
        noise = "CCD model (gain, read noise)" if t.noise_model else "given per pixel"
        say(f"image: {t.shape[1]}×{t.shape[0]} pixels, pixel scale {t.pixelscale:g} arcsec/pixel "
            f"({pixelscale_source}); {int(t.mask.sum())} masked pixels; variance {noise}; "
            f"PSF {f'{t.psf.shape[0]}×{t.psf.shape[1]}' if t.psf is not None else 'none'}; "
            f"zero-point {t.zeropoint if t.zeropoint is not None else 'none (no magnitudes)'}")
        w = self.model.window
        say(f"fitting window: x {w.xmin}–{w.xmax}, y {w.ymin}–{w.ymax} "
            f"({w.xmax - w.xmin}×{w.ymax - w.ymin} pixels)")
        if self.figures:
            import bayesphot as bp

            self.save_figure(bp.plots.data_overview(t, self.model), "_1_data.png")

    def initialize(self) -> None:
        start = time.perf_counter()
        self.model.initialize()
        say(f"\n[1/3] initial values from moments and the median profile ({time.perf_counter() - start:.1f} s):")
        say(str(self.model))
        if self.figures:
            import bayesphot as bp

            self.save_figure(bp.plots.fit_overview(self.model, "initial values"), "_2_initial.png")

    def map_fit(self) -> Any:
        import bayesphot as bp
        from bayesphot import report

        say("\n[2/3] MAP fit by Levenberg–Marquardt (the first iteration includes compiling the model, "
            "about 10 s):")
        start = time.perf_counter()
        with heartbeat("compiling the model and fitting"):
            fit = bp.fit.LM(self.model, verbose=1).fit()
        self.fit = fit
        say(f"LM: {fit.message} after {fit.iterations} iterations in {time.perf_counter() - start:.1f} s; "
            f"chi²/ndf = {fit.chi2_ndf:.4f} (ndf {fit.ndf})")
        if fit.at_limit:
            say(f"warning: at a limit: {', '.join(fit.at_limit)}")
        if not fit.success:
            say("warning: the fit did not converge; the values below are where it stopped")
        self.laplace = report.snapshot(self.model, fit)
        table = report.summary_table(self.model, laplace=self.laplace)
        say(report.format_table(table))
        self.model.save(self.path("_map.yaml"))
        table.write(self.path("_summary.ecsv"), format="ascii.ecsv", overwrite=True)
        if self.figures:
            self.save_figure(bp.plots.fit_overview(self.model, "MAP (Levenberg–Marquardt)"), "_3_map.png")
        return fit

    def sample(self, chains: int, warmup: int, draws: int, seed: int, backend: str, pointwise: bool = True,
               progress: bool = True) -> Any:
        import bayesphot as bp
        from bayesphot import report

        say(f"\n[3/3] NUTS on {backend}: {chains} chains × ({warmup} warm-up + {draws} draws), started at "
            "the MAP with the Laplace covariance as mass matrix; compiling first (10–30 s), then a progress bar:")
        start = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught, heartbeat("NUTS: compiling, sampling or "
                                                                         "computing the diagnostics"):
            warnings.simplefilter("always")
            # the model was just fitted: its Gauss–Newton covariance is the mass matrix (no second fit)
            options = {} if pointwise else {"pointwise_limit": 0}   # 0: the summed log-likelihood per draw only
            post = bp.infer.NUTS(self.model, chains=chains, warmup=warmup, draws=draws, seed=seed,
                                 backend=backend, fit="auto", progress=progress, **options).run()
        for w in caught:
            if "Sampling" not in type(w.message).__name__:
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        self.posterior = post
        say(f"NUTS: {time.perf_counter() - start:.1f} s")
        say(report.verdict(post))
        table = report.summary_table(self.model, post, self.laplace)
        say(report.format_table(table))
        post.to_netcdf(self.path("_posterior.nc"))
        self.model.save(self.path("_posterior.yaml"))
        table.write(self.out / f"{self.prefix}_summary.ecsv", format="ascii.ecsv", overwrite=True)
        if self.figures:
            names = [n for n in post.names if post.draws(n).ndim == 1]
            self.save_figure(bp.plots.corner(post, var_names=names), "_4_corner.png")
            self.save_figure(bp.plots.trace(post, var_names=names), "_5_trace.png")
            self.save_figure(bp.plots.fit_overview(self.model, "posterior mean (NUTS)"), "_6_posterior.png")
        return post

    def close(self, started: float) -> None:
        self.finish_figures()
        names = sorted({p.name for p in self.written})
        say(f"\nwrote to {self.out}/: {', '.join(names)}")
        say(f"total {time.perf_counter() - started:.1f} s")
