#!/bin/bash
#PBS -N train-surrogate-ab12cd
#PBS -q workq
#PBS -l select=1:ncpus=4:mpiprocs=1:ngpus=1:mem=16384mb
#PBS -l walltime=02:00:00
#PBS -o /srv/design/var/runs/20261204-203000-train-surrogate-ab12cd/job.log
#PBS -j oe

# Job 20261204-203000-train-surrogate-ab12cd (train-surrogate), rendered from its validated spec.
set -uo pipefail

module load python/3.11
module load gcc/12
source /srv/design/.venv/bin/activate
export DESIGN_LOG_LEVEL=INFO
export OMP_PROC_BIND=close
ulimit -c 0
cd /srv/design
exec /srv/design/.venv/bin/python -m jobs.worker /srv/design/var/runs/20261204-203000-train-surrogate-ab12cd --batch -- /srv/design/.venv/bin/python -m engine train --data {checkout}/tests/golden/jobs/train-data.xyz --out /srv/design/var/runs/20261204-203000-train-surrogate-ab12cd/artifacts/model --config {checkout}/tests/golden/jobs/tiny-config.yaml
