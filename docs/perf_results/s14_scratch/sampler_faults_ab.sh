#!/bin/bash
# before (a0f4f9b, at /tmp/before: git worktree add /tmp/before a0f4f9b) and after, alternating fresh processes
here=$(cd "$(dirname "$0")" && pwd)
for args in "2048 256 ula" "2048 256 mala" "4096 128 ula" "4096 128 mala" "4096 256 hmc" "8192 256 ula" "8192 256 mala"; do
  for v in before after; do
    if [ $v = before ]; then src=/tmp/before/src; else src=$here/../../../src; fi
    echo -n "$v "; OMP_NUM_THREADS=1 PYTHONPATH=$src python "$here/sampler_faults_ab.py" $args
  done
done
