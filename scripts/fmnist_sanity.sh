#!/usr/bin/env bash
# docs/results.md, "Sanity checks on Fashion-MNIST": LeNet-300-100, seeds 0-2,
# five densities 0.02^(k/5) (45.7%, 20.9%, 9.6%, 4.4%, 2.0%), by IMP (reset),
# pruning at initialisation (SNIP, GraSP, SynFlow, magnitude) and gradual
# pruning, each followed by its shuffle_layerwise and invert branches.
# Short training, for 2 shared CPU cores: 300 steps per round (1/3 epoch),
# batch 60, Adam 1.2e-3, one thread.
#   scripts/fmnist_sanity.sh [OUT]   (default outputs/fmnist_sanity; rlth-run on PATH)
set -euo pipefail
OUT=${1:-outputs/fmnist_sanity}
COMMON=(dataset=fashion_mnist model=lenet_300_100 policy=reset train.max_steps=300 train.batch_size=60
        train.lr=1.2e-3 train.optimizer=adam hardware.num_threads=1 seed=0,1,2)
SPARSITIES=0.5426949481,0.7908720895,0.9043647500,0.9562655170,0.98
stamp() { echo "$(date -u +%H:%M:%S) $*"; }
# The sweep's job directories as one quoted sweep value (their names hold commas).
jobs_of() { ls -d "$1"/[0-9]* | sed "s/.*/'&'/" | paste -sd, -; }
sanity() {  # both branches off every job of sweep $1 (extra overrides after it)
  rlth-run -m branch=shuffle_layerwise,invert "branch.from=$(jobs_of "$1")" "${@:2}" hardware.num_threads=1 hydra.sweep.dir="$1/_branches"
}

stamp "IMP: 6 rounds, 54.27% of each layer per round"
rlth-run -m "${COMMON[@]}" pruner=magnitude pruner.sparsity=0.5426949481 rounds=6 hydra.sweep.dir="$OUT/imp"
stamp "branches off IMP's rounds 1-5"
sanity "$OUT/imp"
stamp "at initialisation: snip, grasp, synflow, magnitude"
rlth-run -m "${COMMON[@]}" pruner=snip,grasp,synflow,magnitude pruner.at_init=true pruner.sparsity=$SPARSITIES rounds=1 \
  hydra.sweep.dir="$OUT/at_init"
stamp "branches off the at-init runs' round 0"
sanity "$OUT/at_init" 'branch.rounds=[0]'
stamp "gradual: Zhu & Gupta from 0 to each sparsity over steps 0-200, every 20"
rlth-run -m "${COMMON[@]}" pruner=magnitude pruner.schedule=gradual pruner.sparsity=$SPARSITIES rounds=1 \
  pruner.gradual.end_step=200 pruner.gradual.frequency=20 hydra.sweep.dir="$OUT/gradual"
stamp "branches off the gradual runs' round 0"
sanity "$OUT/gradual" 'branch.rounds=[0]'
stamp "done"
