#!/bin/bash
# The GPU checks in one call of a few minutes: translate's step beside the reference CycleGAN's at
# 128 and 256 px (alone on the GPU), then W1 critics on photos-32-16 in float32, TF32, bf16 and
# with batches of 1,024, and auto on sweep cases at 3,072-D and 12,288-D, as concurrent streams
# (one process each; the seconds of a stream are those of a GPU shared with the others).
#
#     bash bench/gpu.sh OUT_DIR      # from the repository root, on a machine with CUDA
#
# Each stream runs in its own copy of the repository with --write, so that the blocks it writes
# into docs/benchmarks.md do not race; OUT_DIR/results.tgz holds every copy's docs/benchmarks.md
# and every log (one file: the device tool brings back at most 8).
set -u
out=${1:?usage: bash bench/gpu.sh OUT_DIR}
root=$PWD
export PYTHONUNBUFFERED=1 PYTHONPATH=$root${PYTHONPATH:+:$PYTHONPATH}
logs=/tmp/gpu_logs
mkdir -p "$out" "$logs"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$logs/gpu.txt"
timeout 120 python3 bench/translate.py --sizes 128,256 --steps 30 --device cuda --write 2>&1 | tee "$logs/translate.txt"
cp docs/benchmarks.md "$logs/benchmarks_translate.md"

stream() {  # stream NAME ARGS...: bench/wdist.py --funnels ARGS in a copy of the repository
  local name=$1; shift
  mkdir -p "/tmp/$name" && cp -r "$root/bench" "$root/docs" "$root/ot_gan" "/tmp/$name/"
  (cd "/tmp/$name" && PYTHONPATH=/tmp/$name${PYTHONPATH#$root} timeout "${LIMIT:-300}" \
    python3 bench/wdist.py --funnels --seeds 0 --write "$@" >"$logs/$name.txt" 2>&1;
    cp docs/benchmarks.md "$logs/benchmarks_$name.md") &
}
case=photos-32-16
for precision in fp32 tf32 bf16; do
  opt=device=cuda; [ $precision = fp32 ] || opt="$opt/$precision=true"
  stream "$precision" --cases $case --methods "auto:$opt,maxal:$opt,bjorck:$opt"
done
stream b1024 --cases $case --methods maxal:device=cuda/batch_size=1024,bjorck:device=cuda/batch_size=1024
stream sweep1 --cases "photos-64-16-indep:photo=rocket/scale=2/offset=0.1/depth=0.25,photos-64-64:photo=chelsea/scale=4/offset=0.6/depth=1.0" --methods auto:device=cuda
stream sweep2 --cases "photos-32-64-indep:photo=coffee/scale=8/offset=0.0/depth=0.25,photos-64-64-indep:photo=coffee/scale=8/offset=0.3/depth=1.0" --methods auto:device=cuda
stream sweep3 --cases "photos-64-64:photo=astronaut/scale=2/offset=0.1/depth=0.25,photos-64-16:photo=rocket/scale=4/offset=0.6/depth=1.0" --methods auto:device=cuda
wait
tar czf "$out/results.tgz" -C "$logs" .
for f in "$logs"/*.txt; do echo "== $f"; grep -E "^\| photos|^\| auto|^\| maxal|^\| bjorck|^ *[0-9]+ +[0-9.]|Error|error" "$f" | tail -12; done
