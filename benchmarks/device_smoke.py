"""Every model type on a GPU: render, log-density and its gradient, torch and JAX, against the CPU.

For each model type of ``tests/test_backends.py`` (with a PSF where the model
convolves) the image, the log-density of a noisy copy and its gradient in the
unconstrained space are computed on ``--device`` under torch and JAX and
compared with JAX on the CPU (max relative difference).  A device bug (an
array created on the CPU inside a kernel) shows up as an exception.  Then a
short pyro NUTS run on torch and the device proves the torch sampler path.

Usage::

    python benchmarks/device_smoke.py --device cuda
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--out", default=None)
    parser.add_argument("--no-nuts", action="store_true", help="skip the short pyro NUTS run")
    args = parser.parse_args()

    from test_backends import MODELS, make_target

    import bayesphot as bp
    from bayesphot.program import Program

    rows = []
    for kind, make in MODELS.items():
        model = make(make_target())
        model.initialize() if any(p.value is None for p in model.parameters.values()) else None
        image0 = np.asarray(model.render())
        rng = np.random.default_rng(0)
        model.target.data[...] = image0 + rng.normal(0, 0.1, image0.shape)
        model.target.variance[...] = 0.01
        with bp.backend.using("jax", device="cpu"):
            program = Program(model)
            u = program.free.unconstrained()
            ref_value = float(program.log_density(bp.backend.current().asarray(u)))
            ref_grad = bp.backend.to_numpy(bp.backend.current().grad(program.log_density)(
                bp.backend.current().asarray(u)))
        for name in ("torch", "jax"):
            row = {"model": kind, "backend": name, "device": args.device}
            fresh = make(make_target())  # a new object: nothing cached on the CPU pass is reused
            fresh.target.data[...] = model.target.data
            fresh.target.variance[...] = model.target.variance
            try:
                with bp.backend.using(name, device=args.device) as be:
                    program = Program(fresh)
                    uu = be.asarray(u)
                    value = float(bp.backend.to_numpy(program.log_density(uu)))
                    grad = bp.backend.to_numpy(be.jit(be.grad(program.log_density))(uu))
                row["value_rel"] = abs(value - ref_value) / max(abs(ref_value), 1e-300)
                row["grad_rel"] = float(np.max(np.abs(grad - ref_grad)) / max(np.max(np.abs(ref_grad)), 1e-300))
                row["ok"] = bool(row["value_rel"] < 1e-8 and row["grad_rel"] < 1e-6)
            except Exception as exc:  # report every failure, keep going
                row["ok"] = False
                row["error"] = f"{type(exc).__name__}: {exc}"
                traceback.print_exc(limit=3)
            rows.append(row)
            print(f"{kind:12s} {name:6s} {'ok' if row['ok'] else 'FAIL'} "
                  f"{row.get('value_rel', float('nan')):.1e} {row.get('grad_rel', float('nan')):.1e} "
                  f"{row.get('error', '')}", flush=True)

    if args.no_nuts:
        if args.out:
            Path(args.out).write_text(json.dumps({"rows": rows}, indent=1))
        return
    # pyro NUTS on the device (torch): a short run on the group model
    model = MODELS["group"](make_target())
    image0 = np.asarray(model.render())
    model.target.data[...] = image0 + np.random.default_rng(1).normal(0, 0.1, image0.shape)
    model.target.variance[...] = 0.01
    t0 = time.perf_counter()
    try:
        with bp.backend.using("torch", device=args.device):
            post = bp.infer.NUTS(model, backend="pyro", chains=1, warmup=10, draws=10, device=args.device,
                                 progress=False, fit=False).run()
        pyro_row = {"ok": True, "seconds": time.perf_counter() - t0, "issues": post.issues}
    except Exception as exc:
        traceback.print_exc(limit=5)
        pyro_row = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    print("pyro NUTS on", args.device, pyro_row, flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps({"rows": rows, "pyro": pyro_row}, indent=1))


if __name__ == "__main__":
    main()
