#!/usr/bin/env bash
# docs/results.md, "Sanity checks on Fashion-MNIST": LeNet-300-100, seeds 0-2,
# five densities 0.02^(k/5) (45.7%, 20.9%, 9.6%, 4.4%, 2.0%), by IMP (reset),
# gradual pruning and four pruners at initialisation, each with the
# shuffle_layerwise and invert branches, then rlth-report over all of it.
# Short training (1 epoch of 917 steps per round, batch 60, Adam 1.2e-3) on one thread.
#   scripts/fmnist_sanity.sh [OUT]   (default outputs/fmnist_sanity; rlth-run on PATH)
set -euo pipefail
OUT=${1:-outputs/fmnist_sanity}
COMMON=(dataset=fashion_mnist model=lenet_300_100 policy=reset train.epochs=1 train.batch_size=60
        train.lr=1.2e-3 train.optimizer=adam hardware.num_threads=1 seed=0,1,2 'hydra.sweep.subdir=${hydra.job.num}')
SPARSITIES=0.5426949481,0.7908720895,0.9043647500,0.9562655170,0.98
stamp() { echo "$(date -u +%H:%M:%S) $*"; }

stamp "IMP: 6 rounds, 54.27% of each layer per round"
rlth-run -m "${COMMON[@]}" pruner=magnitude pruner.sparsity=0.5426949481 rounds=6 hydra.sweep.dir="$OUT/imp"
stamp "gradual: Zhu & Gupta from 0 to each sparsity over steps 0-600, every 50"
rlth-run -m "${COMMON[@]}" pruner=magnitude pruner.schedule=gradual pruner.sparsity=$SPARSITIES rounds=1 \
  pruner.gradual.end_step=600 pruner.gradual.frequency=50 hydra.sweep.dir="$OUT/gradual"
stamp "at initialisation: snip, grasp, synflow, magnitude"
rlth-run -m "${COMMON[@]}" pruner=snip,grasp,synflow,magnitude pruner.at_init=true pruner.sparsity=$SPARSITIES rounds=1 \
  hydra.sweep.dir="$OUT/at_init"

from() { ls -d "$1"/[0-9]* | paste -sd, -; }
stamp "branches off IMP's rounds 1-5"
rlth-run -m branch=shuffle_layerwise,invert branch.from="$(from "$OUT/imp")" hardware.num_threads=1 hydra.sweep.dir="$OUT/branches_imp"
stamp "branches off round 0 of gradual and at-init runs"
rlth-run -m branch=shuffle_layerwise,invert branch.from="$(from "$OUT/gradual"),$(from "$OUT/at_init")" 'branch.rounds=[0]' \
  hardware.num_threads=1 hydra.sweep.dir="$OUT/branches_one_round"
stamp "done"
