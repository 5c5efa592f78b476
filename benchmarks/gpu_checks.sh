#!/usr/bin/env bash
# The GPU checks and benchmarks, as one prepared run on a lent GPU machine.
#
# Usage (from the repository root, on the GPU machine; the wheels of pyro-ppl, pyro-api, arviz,
# xarray-einstats, h5netcdf, astropy, pyerfa, astropy-iers-data, array-api-compat and platformdirs
# for its Python carried in .whl/):
#     bash benchmarks/gpu_checks.sh quick|lease5|lease4|lease3|lease2|lease|stamps|full OUTDIR
# quick: a two-minute smoke run; lease4: 100 stamps with lanes stepping independently and in lockstep, 1000 stamps, the
# quadrature ablation at 64² and 256²; lease3: the quadrature ablation on the GPU, then 100 and 300 stamps; lease2: one call of under 10 minutes (100 stamps with the default NUTS and with
# trees of at most 63 steps, each with its lockstep statistics; the render table at 256², 1024², 2048² on both
# backends; LM + NUTS at 2048²; every model type on the device without the pyro run); lease: what one 15-minute lease holds (about 8 minutes); part1
# (devices, 64² sampling, stamps) and part2 (calibration, large images, render) together are "full":
# the benchmarks whose JSON is committed.
set -u
mode=${1:-quick}
out=${2:-benchmarks/results}
mkdir -p "$out"
if [ -d .whl ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    || exit 1
  export PYTHONPATH=/tmp/site:$PWD
fi
export PYTHONUNBUFFERED=1 XLA_PYTHON_CLIENT_PREALLOCATE=false
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import jax, numpyro, torch; print('jax', jax.__version__, jax.devices(), 'numpyro', numpyro.__version__, 'torch', torch.__version__, torch.cuda.is_available())"
step() { echo "=== $(date +%T) $*"; }
if [ "$mode" = quick ]; then
  step "torch on CUDA: every model type, render + log-density gradient"
  timeout 120 python3 benchmarks/device_smoke.py --device cuda 2>&1 | tail -20
  step "sampling 64² (jax, cuda)"
  timeout 240 python3 benchmarks/sampling.py --device cuda --size 64 --no-psf --warmup 200 --draws 200 \
    --only bayesphot handwritten-numpyro --stamps 10 --stamp-warmup 100 --stamp-draws 100 \
    --out "$out/sampling_gpu_quick.json" 2>&1 | grep -v -i "warn\|arviz\|refactor\|migration" | tail -25
  exit 0
fi
if [ "$mode" = lease5 ]; then  # what lease4 left: 1000 stamps, lanes stepping independently, to the end
  step "stamps: 1000, lanes stepping independently (one program), 4 chains x (200 + 500)"
  timeout 300 python3 benchmarks/sampling.py --device cuda --only none --stamps 1000 --progress \
    --out "$out/sampling_gpu_stamps1000_lanes.json" 2>&1 | tr '\r' '\n' | grep -v -i "warn\|arviz\|refactor\|migration\|^ *$" \
    | awk 'NR % 25 == 0 || /objects\/hour|stamps|written/' | tail -16
  step "done"
  exit 0
fi
if [ "$mode" = lease4 ]; then  # lanes stepping independently against lockstep, then 1000 stamps, then the rule's GPU time
  filter() { grep -v -i "warn\|arviz\|refactor\|migration\|^ *$"; }
  step "stamps: 100, lanes stepping independently, then numpyro's kernel in lockstep, 4 chains x (200 + 500)"
  timeout 200 python3 benchmarks/sampling.py --device cuda --only none --stamps 100 --stamp-engine lanes lockstep \
    --out "$out/sampling_gpu_stamps100_engines.json" 2>&1 | filter | tail -8
  step "stamps: 1000, lanes stepping independently (one program)"
  timeout 260 python3 benchmarks/sampling.py --device cuda --only none --stamps 1000 --progress \
    --out "$out/sampling_gpu_stamps1000_lanes.json" 2>&1 | tr '\r' '\n' | filter | awk 'NR % 15 == 0 || /objects|stamps|written/' | tail -14
  step "quadrature ablation: kernels and value+gradient time, tier by tier (64², 256²)"
  timeout 90 python3 benchmarks/quadrature_ablation.py --device cuda --sizes 64 256 --rounds 30 \
    --out "$out/quadrature_ablation_gpu.json" 2>&1 | tail -16
  step "done"
  exit 0
fi
if [ "$mode" = lease3 ]; then  # the next lease: where the rule's GPU time goes, and stamps by the program
  filter() { grep -v -i "warn\|arviz\|refactor\|migration\|^ *$"; }
  step "quadrature ablation: kernels and value+gradient time, tier by tier (64², 256², 2048²)"
  timeout 150 python3 benchmarks/quadrature_ablation.py --device cuda --sizes 64 256 2048 --rounds 30 \
    --out "$out/quadrature_ablation_gpu.json" 2>&1 | tail -24
  step "stamps: 100 and 300 (programs of at most 100; adaptive objects apart), 4 chains x (200 + 500)"
  timeout 380 python3 benchmarks/sampling.py --device cuda --only none --stamps 100 300 \
    --out "$out/sampling_gpu_stamps.json" 2>&1 | filter | tail -8
  step "done"
  exit 0
fi
if [ "$mode" = lease2 ]; then
  filter() { grep -v -i "warn\|arviz\|refactor\|migration\|^ *$"; }
  step "stamps: 100 in vectorised programs, default NUTS (4 chains x (200 + 500))"
  timeout 130 python3 benchmarks/sampling.py --device cuda --only none --stamps 100 \
    --out "$out/sampling_gpu_stamps.json" 2>&1 | filter | tail -5
  step "render benchmark, both backends, 256² 1024² 2048² (each configuration written as it finishes)"
  timeout 150 python3 benchmarks/render.py --device cuda --sizes 256 1024 2048 --repeats 5 \
    --out "$out/render_gpu.json" 2>&1 | tail -18
  step "stamps: 100, NUTS with trees of at most 63 steps (max_tree_depth 6)"
  timeout 110 python3 benchmarks/sampling.py --device cuda --only none --stamps 100 --stamp-max-tree-depth 6 \
    --out "$out/sampling_gpu_stamps_depth6.json" 2>&1 | filter | tail -5
  step "sampling 2048² with PSF (LM + NUTS 150 + 300, then again compiled)"
  timeout 80 python3 benchmarks/sampling.py --device cuda --size 2048 --warmup 150 --draws 300 --only bayesphot --rerun \
    --out "$out/sampling_gpu_2048.json" 2>&1 | filter | tail -6
  step "devices: every model type, torch and jax, render + log-density gradient against JAX on the CPU"
  timeout 60 python3 benchmarks/device_smoke.py --device cuda --no-nuts --out "$out/device_gpu.json" 2>&1 \
    | grep -v "^ " | tail -20
  step "done"
  exit 0
fi
if [ "$mode" = stamps ]; then  # one call of under 10 minutes: the render table, then 100 and 1000 stamps
  step "render benchmark, both backends (each configuration written as it finishes)"
  timeout 100 python3 benchmarks/render.py --device cuda --sizes 256 1024 2048 --repeats 5 \
    --out "$out/render_gpu.json" 2>&1 | tail -14
  step "stamps: 100 in one vectorised program (4 chains x (200 + 500))"
  BAYESPHOT_BATCH_GB=2000 timeout 170 python3 benchmarks/sampling.py --device cuda --only none --stamps 100 \
    --out "$out/sampling_gpu_stamps.json" 2>&1 | grep -v -i "warn\|arviz\|refactor\|migration" | tail -4
  fits=$(python3 -c "import json; s = json.load(open('$out/sampling_gpu_stamps.json'))['stamps'][-1]; \
print(int(10 * s.get('device_peak_bytes_in_use_gb', 1e9) < 0.8 * s.get('device_bytes_limit_gb', 0)))" 2>/dev/null || echo 0)
  if [ "$fits" = 1 ]; then
    step "stamps: 1000 in one vectorised program (10 x the 100-stamp peak fits)"
    BAYESPHOT_BATCH_GB=2000 timeout 300 python3 benchmarks/sampling.py --device cuda --only none --stamps 1000 \
      --progress --out "$out/sampling_gpu_stamps1000.json" 2>&1 | tr '\r' '\n' | grep -v -i "warn\|arviz\|refactor\|migration" \
      | grep -v "^ *$" | awk 'NR % 20 == 0 || /objects|stamps|wall|written/' | tail -25
  else
    echo "1000 stamps skipped: 10 x the 100-stamp peak would not fit"
  fi
  step "done"
  exit 0
fi
if [ "$mode" = lease ]; then  # one 15-minute lease: the device check in the background, the timings in turn
  step "devices (background): every model type, torch and jax, render + log-density gradient; pyro NUTS"
  (timeout 300 python3 benchmarks/device_smoke.py --device cuda --out "$out/device_gpu.json" > "$out/device_gpu.log" 2>&1) &
  smoke=$!
  step "sampling 64² issue case (LM + NUTS 500 + 500 vs hand-written numpyro 500 + 500)"
  timeout 150 python3 benchmarks/sampling.py --device cuda --size 64 --no-psf --warmup 500 --draws 500 \
    --only bayesphot handwritten-numpyro --rerun --out "$out/sampling_gpu_64.json" 2>&1 | grep -v -i "warn\|arviz\|refactor\|migration" | tail -9
  step "stamps: objects per hour (4 chains x (200 + 500)), one vectorised batch"
  BAYESPHOT_BATCH_GB=2000 timeout 170 python3 benchmarks/sampling.py --device cuda --only none --stamps 1 100 \
    --out "$out/sampling_gpu_stamps.json" 2>&1 | grep -v -i "warn\|arviz\|refactor\|migration" | tail -6
  step "sampling 256² with PSF, numpyro (LM + NUTS) and pyro"
  timeout 80 python3 benchmarks/sampling.py --device cuda --size 256 --warmup 150 --draws 300 --only bayesphot pyro-laplace --rerun \
    --out "$out/sampling_gpu_256.json" 2>&1 | grep -v -i "warn\|arviz\|refactor\|migration" | tail -6
  step "sampling 1024² with PSF"
  timeout 70 python3 benchmarks/sampling.py --device cuda --size 1024 --warmup 150 --draws 300 --only bayesphot --rerun \
    --out "$out/sampling_gpu_1024.json" 2>&1 | grep -v -i "warn\|arviz\|refactor\|migration" | tail -4
  step "render benchmark, both backends"
  timeout 50 python3 benchmarks/render.py --device cuda --sizes 256 1024 --big --repeats 5 \
    --out "$out/render_gpu.json" 2>&1 | tail -14
  step "devices (waiting for the background check)"
  wait $smoke; grep -v "^ " "$out/device_gpu.log" | tail -22
  step "done"
  exit 0
fi
if [ "$mode" = part1 ] || [ "$mode" = full ]; then
  step "devices: every model type, torch and jax, render + log-density gradient; pyro NUTS"
  timeout 90 python3 benchmarks/device_smoke.py --device cuda --out "$out/device_gpu.json" 2>&1 | grep -v "^ " | tail -22
  step "sampling 64² issue case (LM + NUTS 500 + 500 vs hand-written numpyro 500 + 500)"
  timeout 130 python3 benchmarks/sampling.py --device cuda --size 64 --no-psf --warmup 500 --draws 500 \
    --only bayesphot handwritten-numpyro --rerun --out "$out/sampling_gpu_64.json" 2>&1 | grep -v -i "warn\|arviz\|refactor\|migration" | tail -9
  step "stamps: objects per hour (4 chains x (200 + 500))"
  timeout 150 python3 benchmarks/sampling.py --device cuda --only none --stamps 1 100 1000 \
    --out "$out/sampling_gpu_stamps.json" 2>&1 | grep -v -i "warn\|arviz\|refactor\|migration" | tail -8
fi
if [ "$mode" = part3 ]; then  # what a short lease allows: stamps, a smaller calibration, one large image
  step "stamps: objects per hour (4 chains x (200 + 500))"
  timeout 150 python3 benchmarks/sampling.py --device cuda --only none --stamps 1 100 1000 \
    --out "$out/sampling_gpu_stamps.json" 2>&1 | grep -v -i "warn\|arviz\|refactor\|migration" | tail -8
  step "calibration: 3 x 100 single + 50 pairs, 4 chains x (300 + 500)"
  timeout 170 python3 benchmarks/calibration.py --device cuda --n 100 --pairs 50 --out "$out/calibration_gpu.json" \
    2>&1 | grep -v -i "warn\|arviz\|refactor\|migration" | tail -60
  step "sampling 1024² with PSF"
  timeout 50 python3 benchmarks/sampling.py --device cuda --size 1024 --warmup 150 --draws 300 --only bayesphot \
    --out "$out/sampling_gpu_1024.json" 2>&1 | grep -v -i "warn\|arviz\|refactor\|migration" | tail -4
fi
if [ "$mode" = part2 ] || [ "$mode" = full ]; then
  step "calibration: 3 x 200 single + 100 pairs, 4 chains x (300 + 500)"
  timeout 200 python3 benchmarks/calibration.py --device cuda --out "$out/calibration_gpu.json" 2>&1 \
    | grep -v -i "warn\|arviz\|refactor\|migration" | tail -60
  for size in 256 1024 2048; do
    step "sampling ${size}² with PSF"
    timeout 60 python3 benchmarks/sampling.py --device cuda --size $size --warmup 150 --draws 300 --only bayesphot \
      --out "$out/sampling_gpu_${size}.json" 2>&1 | grep -v -i "warn\|arviz\|refactor\|migration" | tail -4
  done
  step "render benchmark, both backends"
  timeout 60 python3 benchmarks/render.py --device cuda --sizes 256 1024 --big --repeats 5 \
    --out "$out/render_gpu.json" 2>&1 | tail -14
fi
