#!/bin/bash
#PBS -N pentamer-7
#PBS -q workq
#PBS -A chem
#PBS -l select=1:ncpus=2:mpiprocs=1:mem=2048mb
#PBS -l walltime=01:30:00
#PBS -o /srv/design/var/runs/20261204-203000-search-ab12cd/job.log
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
exec /srv/design/.venv/bin/python -m jobs.worker /srv/design/var/runs/20261204-203000-search-ab12cd --batch -- /srv/design/.venv/bin/python -m engine search --start pentamer --frame 0 --target-size 7 --branching 2 --max-results 10 --max-expansions 2000 --max-seconds 120.0 --out /srv/design/var/runs/20261204-203000-search-ab12cd/artifacts/pathways.json
