"""Start or stop the one-node Slurm test cluster by hand.

    .venv/bin/python scripts/slurm_test_cluster.py start STATE_DIR
    export SLURM_CONF=STATE_DIR/slurm.conf     # as printed by start
    .venv/bin/python -m jobs submit SPEC.json --backend slurm
    .venv/bin/python scripts/slurm_test_cluster.py stop STATE_DIR

Needs root and the Debian packages slurm-wlm and munge (installed when
missing). In a loopback-only network namespace, run it inside the same
namespace as the commands that use it. The tests start their own cluster
(see ``tests/test_jobs_slurm.py``).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import slurm_cluster  # noqa: E402  (found through the path above)


def main() -> int:
    parser = argparse.ArgumentParser(description="Start or stop the one-node Slurm test cluster.")
    parser.add_argument("action", choices=("start", "stop"))
    parser.add_argument("state_dir", type=Path, help="folder for the configuration, state, logs and pid files")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    cluster = slurm_cluster.SlurmTestCluster(args.state_dir)
    if args.action == "stop":
        cluster.stop()
        return 0
    reason = slurm_cluster.unavailable_reason()
    if reason is not None:
        print(f"error: {reason}", file=sys.stderr)
        return 1
    try:
        cluster.start()
    except slurm_cluster.ClusterError as error:
        cluster.stop()
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"export SLURM_CONF={cluster.conf_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
