"""The opening every workflow script shares: `from _job import script_job` (Snakemake puts a local script's
folder on sys.path). It puts this checkout's src/ first on sys.path, since the per-rule conda envs do not
install the package, and hands on `hybrid_retrieval.infra.workflow_support.script_job` (numerics, then the job log).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))

from hybrid_retrieval.infra.workflow_support import script_job  # noqa: E402

__all__ = ["script_job"]
