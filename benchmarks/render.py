"""Render and gradient time of one Sérsic galaxy on the JAX and torch backends.

For each image size (with and without a PSF) it times

* ``fwd``: the model image, ``model.sample_image(values)``;
* ``fwd+grad``: the scalar ``sum(image * w)`` and its reverse-mode gradient
  with respect to all 7 Sérsic parameters (x, y, q, PA, n, Re, Ie);
* ``centre f+g``: the same with every pixel sampled once at its centre (no
  integration: ``QuadratureConfig(base_order=1, mid_block=0, block=0)``), the
  cheapest possible render; ``ratio`` is the integrated render's gradient time
  over this one (the targets: ≤ 2 at 64², ≤ 1.3 at 256² and above).

The integrated render uses the model's default quadrature (``"auto"``: chosen
per model by :func:`bayesphot.render.choose_quadrature`), reported per row.

JAX runs ``jax.jit`` of the function and of its ``value_and_grad``; torch runs
eagerly (``backward()``), and with ``--compile`` also through ``torch.compile``.  Each
configuration runs in its own subprocess, so that its peak memory can be
reported; after one warm-up call (which includes compilation, reported
separately) the median of several repeats is kept.

Usage::

    python benchmarks/render.py                       # 64, 128, 256, 1024 pixels, CPU
    python benchmarks/render.py --big                 # and 2048
    python benchmarks/render.py --sizes 64 256 --repeats 20
    python benchmarks/render.py --device cuda --big --out benchmarks/results/render_cuda.json

Results: a table on stdout and JSON in ``benchmarks/results/render.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

# run the bayesphot of this checkout, not whichever one is installed
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

PARAMS = ("x", "y", "q", "PA", "n", "Re", "Ie")
RESULTS = Path(__file__).resolve().parent / "results"


# --------------------------------------------------------------------- problem
def moffat_psf(size: int = 25, fwhm: float = 3.0, beta: float = 3.0) -> np.ndarray:
    """A centred, circular Moffat PSF of odd ``size`` pixels (normalised later by PSFImage)."""
    alpha = fwhm / (2.0 * np.sqrt(2.0 ** (1.0 / beta) - 1.0))
    r = np.arange(size) - size // 2
    r2 = r[None, :] ** 2 + r[:, None] ** 2
    return (1.0 + r2 / alpha**2) ** (-beta)


CENTRE_SAMPLED = {"base_order": 1, "mid_block": 0, "block": 0}


def build_model(size: int, psf: bool, quadrature: Any = "auto") -> tuple[Any, np.ndarray]:
    """A ``size``² target holding one Sérsic galaxy, and the parameter vector at which to time it."""
    import bayesphot as bp

    target = bp.TargetImage(np.zeros((size, size)), pixelscale=0.262,
                            psf=bp.PSFImage(moffat_psf()) if psf else None)
    s = target.pixelscale
    values = {"x": (size / 2 + 0.3) * s, "y": (size / 2 - 0.2) * s, "q": 0.6, "PA": 0.7,
              "n": 2.5, "Re": size / 8 * s, "Ie": 1.0}
    model = bp.Model("gal", "sersic galaxy model", target=target, quadrature=quadrature, **values)
    return model, np.array([values[k] for k in PARAMS])


def sync(name: str, x: Any) -> None:
    """Wait for asynchronous device work to finish."""
    if name == "jax":
        x.block_until_ready()
    elif x.device.type == "cuda":
        import torch

        torch.cuda.synchronize()


def time_call(fn: Callable[[], Any], name: str, repeats: int) -> tuple[float, float, float]:
    """Seconds of the first call, and the median and fastest of ``repeats`` later calls."""
    t0 = time.perf_counter()
    sync(name, fn())
    first = time.perf_counter() - t0
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        sync(name, fn())
        times.append(time.perf_counter() - t0)
    return first, statistics.median(times), min(times)


def peak_memory_mb(name: str, device: str) -> float:
    """Peak memory of this process: device memory on CUDA, resident memory on CPU."""
    if device.startswith("cuda"):
        if name == "torch":
            import torch

            return torch.cuda.max_memory_allocated() / 2**20
        import jax

        stats = jax.devices("gpu")[0].memory_stats() or {}
        return stats.get("peak_bytes_in_use", float("nan")) / 2**20
    import resource

    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kB on Linux
    return kb / 1024.0


def time_model(name: str, model: Any, theta: np.ndarray, size: int, repeats: int, compile_: bool,
               prefix: str = "") -> dict[str, Any]:
    """Forward and forward+gradient timings of one model (keys prefixed by ``prefix``)."""
    import bayesphot as bp

    be = bp.backend.current()
    out: dict[str, Any] = {}
    rng = np.random.default_rng(0)
    w = be.asarray(rng.uniform(0.5, 1.5, (size, size)))
    vec = be.asarray(theta)

    def image(v: Any) -> Any:
        return model.sample_image({k: v[i] for i, k in enumerate(PARAMS)})

    def loss(v: Any) -> Any:
        xp = bp.backend.namespace(v)
        return xp.sum(image(v) * w)

    if name == "jax":
        import jax

        fwd = jax.jit(image)
        vg = jax.jit(jax.value_and_grad(loss))
        out["fwd_first_s"], out["fwd_s"], out["fwd_min_s"] = time_call(lambda: fwd(vec), name, repeats)
        out["grad_first_s"], out["grad_s"], out["grad_min_s"] = time_call(lambda: vg(vec)[1], name, repeats)
        value, grad = vg(vec)
        out["_grad_call"] = lambda: vg(vec)[1]
    else:
        import torch

        def eager_grad(f: Callable[[Any], Any]) -> Callable[[], Any]:
            def call() -> Any:
                v = vec.detach().requires_grad_(True)
                f(v).backward()
                return v.grad
            return call

        def no_grad() -> Any:
            with torch.no_grad():
                return image(vec)

        out["fwd_first_s"], out["fwd_s"], out["fwd_min_s"] = time_call(no_grad, name, repeats)
        out["grad_first_s"], out["grad_s"], out["grad_min_s"] = time_call(eager_grad(loss), name, repeats)
        value, grad = loss(vec), eager_grad(loss)()
        out["_grad_call"] = eager_grad(loss)
        if compile_:
            try:
                compiled = torch.compile(loss)
                out["compile_grad_first_s"], out["compile_grad_s"], out["compile_grad_min_s"] = time_call(
                    eager_grad(compiled), name, repeats)
                g2 = eager_grad(compiled)()
                out["compile_max_rel_diff"] = float(torch.max(torch.abs(g2 - grad) / (torch.abs(grad) + 1e-30)))
            except Exception as exc:
                out["compile_error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
    out["value"] = float(bp.backend.to_numpy(value))
    out["grad"] = bp.backend.to_numpy(grad).tolist()
    return {prefix + k: v for k, v in out.items()}


def render_shape(model: Any, psf: bool) -> tuple[int, int]:
    """Pixels a render integrates: the window, padded by the PSF's half size when there is one."""
    rows, cols = model.window.shape
    if psf:
        pad_rows, pad_cols = model.target.psf.half_size_pixels
        rows, cols = rows + 2 * pad_rows, cols + 2 * pad_cols
    return rows, cols


def base_block_used(config: Any, model: Any, psf: bool) -> bool:
    """Whether the render corrects the midpoint on the rule's base block only (large enough images)."""
    from bayesphot.render.quadrature import uses_base_block

    return uses_base_block(config, render_shape(model, psf))


def evaluations(config: Any, model: Any, psf: bool) -> int:
    """Brightness evaluations per render (the machine-independent cost)."""
    from bayesphot.render import quadrature_evaluations

    return quadrature_evaluations(config, render_shape(model, psf))


def run_one(name: str, size: int, psf: bool, repeats: int, device: str, compile_: bool) -> dict[str, Any]:
    """Time one configuration in this process (the worker side)."""
    from dataclasses import asdict

    import bayesphot as bp
    from bayesphot.render import QuadratureConfig

    out: dict[str, Any] = {"backend": name, "size": size, "psf": psf, "repeats": repeats}
    with bp.backend.using(name, device=device):
        model, theta = build_model(size, psf)
        t0 = time.perf_counter()
        out["quadrature"] = asdict(model.quadrature)
        out["quadrature_choice_s"] = time.perf_counter() - t0
        out.update(time_model(name, model, theta, size, repeats, compile_))
        centre, _ = build_model(size, psf, QuadratureConfig(**CENTRE_SAMPLED))
        out.update(time_model(name, centre, theta, size, repeats, False, prefix="centre_"))
        out["grad_ratio_to_centre"] = out["grad_s"] / out["centre_grad_s"]
        # the same ratio from interleaved calls (robust to a machine whose load drifts)
        ratios = []
        for _ in range(max(repeats, 30)):
            _, t_full, _ = time_call(out["_grad_call"], name, 1)
            _, t_centre, _ = time_call(out["centre__grad_call"], name, 1)
            ratios.append(t_full / t_centre)
        out["grad_ratio_interleaved"] = statistics.median(ratios)
        out["evaluations"] = evaluations(model.quadrature, model, psf)
        out["base_block_used"] = base_block_used(model.quadrature, model, psf)
        out["centre_evaluations"] = evaluations(centre.quadrature, centre, psf)
        del out["_grad_call"], out["centre__grad_call"]
        out["peak_memory_mb"] = peak_memory_mb(name, device)
    return out


# ------------------------------------------------------------------ driver side
def limit_threads(threads: int) -> None:
    """Use ``threads`` CPU threads in this process (before jax/torch start their thread pools)."""
    os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(threads)
    if threads == 1:
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false").strip()
    import torch

    torch.set_num_threads(threads)


def worker_command(name: str, size: int, psf: bool, repeats: int, device: str, compile_: bool,
                   threads: int | None) -> list[str]:
    cmd = [sys.executable, __file__, "--worker", name, "--sizes", str(size), "--repeats", str(repeats),
           "--device", device]
    if threads:
        cmd += ["--threads", str(threads)]
    if psf:
        cmd.append("--psf")
    if compile_:
        cmd.append("--worker-compile")
    return cmd


def repeats_for(size: int, repeats: int) -> int:
    """Fewer repeats for big images."""
    return repeats if size <= 256 else max(3, repeats // 3)


def fmt_ms(seconds: float | None) -> str:
    return f"{'-':>9}" if seconds is None else f"{1e3 * seconds:9.2f}"


def fmt_ratio(a: float | None, b: float | None) -> str:
    return "-" if a is None or b is None else f"{a / b:6.2f}"


def table(rows: list[dict[str, Any]]) -> str:
    """Milliseconds per call (median) and the cost ratio of integrated to centre-sampled pixels."""
    by_key: dict[tuple[int, bool], dict[str, dict[str, Any]]] = {}
    for r in rows:
        by_key.setdefault((r["size"], r["psf"]), {})[r["backend"]] = r
    head = (f"{'size':>6} {'psf':>4} | {'jax fwd':>9} {'jax f+g':>9} {'centre':>9} {'ratio':>6} | "
            f"{'torch fwd':>9} {'torch f+g':>9} {'centre':>9} {'ratio':>6} {'compiled':>9} | {'evals':>6} | quadrature")
    lines = ["times in ms (median); f+g = value + reverse-mode gradient of sum(image*w) w.r.t. 7 parameters;",
             "centre = the same with pixels sampled at their centres; ratio = median over interleaved calls of",
             "f+g / centre f+g; evals = brightness evaluations per render over those of the centre-sampled one",
             head, "-" * len(head)]
    for (size, psf), res in sorted(by_key.items()):
        j, t = res.get("jax", {}), res.get("torch", {})
        q = (j or t).get("quadrature", {})
        quad = (f"base {q.get('base_order')}, near {q.get('mid_block')}² GL{q.get('mid_order')}, "
                f"cusp {q.get('block')}² L{q.get('levels')}×{q.get('order')}"
                + (f", base block {q['base_block']}²" + (" + Laplacian" if q.get("outer_order") else "")
                   if (j or t).get("base_block_used") else "")) if q else "-"
        lines.append(
            f"{size:>5}² {'yes' if psf else 'no':>4} | {fmt_ms(j.get('fwd_s'))} {fmt_ms(j.get('grad_s'))} "
            f"{fmt_ms(j.get('centre_grad_s'))} {fmt_ratio(j.get('grad_ratio_interleaved'), 1.0):>6} | "
            f"{fmt_ms(t.get('fwd_s'))} {fmt_ms(t.get('grad_s'))} {fmt_ms(t.get('centre_grad_s'))} "
            f"{fmt_ratio(t.get('grad_ratio_interleaved'), 1.0):>6} {fmt_ms(t.get('compile_grad_s'))} | "
            f"{fmt_ratio((j or t).get('evaluations'), (j or t).get('centre_evaluations')):>6} | {quad}"
        )
    return "\n".join(lines)


def machine(device: str) -> dict[str, Any]:
    """What the numbers were measured on."""
    import jax
    import torch

    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
            "jax": jax.__version__, "torch": torch.__version__, "numpy": np.__version__, "device": device}
    if device.startswith("cuda") and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    import bayesphot

    root = Path(__file__).resolve().parent.parent
    source = Path(bayesphot.__file__).resolve().parent
    info["bayesphot_source"] = str(source)
    try:
        git = lambda *a: subprocess.run(["git", *a], cwd=root, capture_output=True, text=True).stdout.strip()
        info["commit"] = git("rev-parse", "--short", "HEAD")
        if source == root / "bayesphot":
            info["bayesphot_modified"] = bool(git("status", "--porcelain", "bayesphot"))
    except OSError:
        pass
    return info


def write(rows: list[dict[str, Any]], args: argparse.Namespace, final: bool) -> None:
    """Compare the backends' gradients, print the table (``final``) and write the JSON."""
    for size in args.sizes:
        for psf in args.psf_modes:
            pair = {r["backend"]: r for r in rows if r["size"] == size and r["psf"] == psf and "grad" in r}
            if len(pair) == 2:
                gj, gt = np.array(pair["jax"]["grad"]), np.array(pair["torch"]["grad"])
                diff = float(np.max(np.abs(gt - gj) / (np.abs(gj) + 1e-30)))
                for r in pair.values():
                    r["grad_max_rel_diff_torch_vs_jax"] = diff
    text = table([r for r in rows if "error" not in r])
    if final:
        print(text)
    for r in rows if final else []:
        if "error" in r:
            print(f"FAILED {r['backend']} {r['size']}² psf={r['psf']}: {r['error']}")
        if "compile_error" in r:
            print(f"torch.compile skipped at {r['size']}² psf={r['psf']}: {r['compile_error']}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    payload = {"benchmark": "render", "machine": machine(args.device), "params": list(PARAMS),
               "repeats": args.repeats, "threads": args.threads or "library default",
               "created": time.strftime("%Y-%m-%d %H:%M:%S"), "results": rows, "table": text.splitlines()}
    args.out.write_text(json.dumps(payload, indent=1) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128, 256, 1024],
                        help="image sizes (pixels a side)")
    parser.add_argument("--big", action="store_true", help="add 2048² to the sizes")
    parser.add_argument("--repeats", type=int, default=10,
                        help="timed calls per configuration (a third of this, at least 3, above 256²)")
    parser.add_argument("--device", default="cpu", help="'cpu' or 'cuda'")
    parser.add_argument("--backends", nargs="+", default=["jax", "torch"], choices=["jax", "torch"])
    parser.add_argument("--no-psf", dest="psf_modes", action="store_const", const=[False], default=[False, True],
                        help="skip the PSF-convolved runs")
    parser.add_argument("--compile", type=int, nargs="*", metavar="SIZE",
                        help="add a torch.compile column, at the given sizes or (no sizes) at all of them; "
                             "compiling takes one to two minutes per configuration on a CPU")
    parser.add_argument("--threads", type=int, default=None,
                        help="CPU threads (and cores) per backend; default: the libraries' own choice")
    parser.add_argument("--out", type=Path, default=RESULTS / "render.json")
    parser.add_argument("--worker", choices=["jax", "torch"], help=argparse.SUPPRESS)
    parser.add_argument("--psf", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--worker-compile", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        import warnings

        warnings.filterwarnings("ignore", category=UserWarning, module="torch._dynamo")
        if args.threads:
            limit_threads(args.threads)
        row = run_one(args.worker, args.sizes[0], args.psf, args.repeats, args.device, args.worker_compile)
        print("RESULT " + json.dumps(row))
        return 0

    if args.big and 2048 not in args.sizes:
        args.sizes.append(2048)
    rows: list[dict[str, Any]] = []
    for size in args.sizes:
        for psf in args.psf_modes:
            for name in args.backends:
                compile_here = args.compile is not None and (not args.compile or size in args.compile)
                cmd = worker_command(name, size, psf, repeats_for(size, args.repeats), args.device,
                                     compile_here and name == "torch", args.threads)
                print(f"running {name} {size}² psf={psf} ...", file=sys.stderr, flush=True)
                proc = subprocess.run(cmd, capture_output=True, text=True)
                lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
                if proc.returncode != 0 or not lines:
                    tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
                    rows.append({"backend": name, "size": size, "psf": psf, "error": " | ".join(tail)})
                    print(f"  failed (exit {proc.returncode}): {' | '.join(tail)}", file=sys.stderr)
                    continue
                rows.append(json.loads(lines[-1][len("RESULT "):]))
                write(rows, args, final=False)  # a run cut short keeps what finished
    write(rows, args, final=True)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
