#!/bin/bash
#PBS -N search-ab12cd
#PBS -q workq
#PBS -l select=1:ncpus=1:mpiprocs=1
#PBS -l walltime=00:15:00
#PBS -J 0-2
#PBS -o /srv/design/var/runs/20261204-203000-search-ab12cd/job-^array_index^.log
#PBS -j oe

# Job 20261204-203000-search-ab12cd (search), rendered from its validated spec.
set -uo pipefail

module load python/3.11
module load gcc/12
source /srv/design/.venv/bin/activate
export DESIGN_LOG_LEVEL=INFO
export OMP_PROC_BIND=close
ulimit -c 0
cd /srv/design
exec /srv/design/.venv/bin/python -m jobs.worker /srv/design/var/runs/20261204-203000-search-ab12cd --batch --array-task "$PBS_ARRAY_INDEX"
