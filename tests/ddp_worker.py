"""One of the processes ``tests/test_gan_distributed.py`` starts with torchrun (not a test module itself).

``python -m torch.distributed.run --nproc_per_node=2 tests/ddp_worker.py FOLDER`` runs, in FOLDER:
``short.json`` into ``two`` (``train_gan`` joins torchrun's process group from its
variables), keeps a copy of that run's checkpoint as ``two-short``, then ``long.json``
resuming ``two`` and ``long-direct.json`` from scratch, in the process group left open.
"""

import shutil
import sys
from pathlib import Path

import torch.distributed as dist

from matdyn_nb.__main__ import main

folder = Path(sys.argv[1])
assert main(["train", str(folder / "short.json"), "--no-progress"]) == 0
if dist.get_rank() == 0:
    shutil.copytree(folder / "two" / "checkpoint", folder / "two-short")
dist.barrier()
assert main(["train", str(folder / "long.json"), "--no-progress"]) == 0
assert main(["train", str(folder / "long-direct.json"), "--no-progress"]) == 0
