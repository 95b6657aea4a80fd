"""What both benchmarks share: a server to measure on (given, or a throwaway cluster in /tmp)."""

from __future__ import annotations

import shutil
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from supadeploy.database import DbUrl  # noqa: E402
from supadeploy.local_backend import LocalCluster, free_port  # noqa: E402


def server(url: str | None, stack: ExitStack) -> DbUrl:
    """The superuser URL given, or a cluster started now and stopped and deleted when the stack closes."""
    if url:
        return DbUrl.parse(url)
    root = Path(tempfile.mkdtemp(prefix="supadeploy-bench-", dir="/tmp"))
    root.chmod(0o755)  # the postgres system user must enter it when we run as root
    stack.callback(shutil.rmtree, root, True)
    cluster = LocalCluster(root=root, port=free_port(), durable=False)
    cluster.start()
    stack.callback(cluster.stop)
    return cluster.url
