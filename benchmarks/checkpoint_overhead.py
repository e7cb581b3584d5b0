"""What signed log checkpoints cost a write: 500 dataset registrations on a SQLite file,
with the default policy (a checkpoint at every write), one every 100 entries, and none.

Run: ``python benchmarks/checkpoint_overhead.py``.
"""

from __future__ import annotations

import tempfile
import time

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from audits.roles import Actor, Role
from audits.store import Store
from audits.store.log import CheckpointPolicy

N_WRITES = 500
SCIENTIST = Actor("dana", Role.DATA_SCIENTIST)
POLICIES = (("every 100 entries", CheckpointPolicy(every_entries=100)),
            ("every write (default)", CheckpointPolicy()),
            ("never", CheckpointPolicy(10**9, 1e9)))


def main() -> None:
    """Print the mean time per write under each policy."""
    for label, policy in POLICIES:
        with tempfile.TemporaryDirectory() as folder, Store(
                f"sqlite:///{folder}/fairpanel.db", signing_key=Ed25519PrivateKey.generate(),
                checkpoint_policy=policy) as store:
            start = time.perf_counter()
            for i in range(N_WRITES):
                store.record_dataset(SCIENTIST, name=f"d{i}", source="bench",
                                     sha256=f"{i:064x}", n_rows=1, roles={}, card="")
            per_write = 1000 * (time.perf_counter() - start) / N_WRITES
            print(f"{label}: {per_write:.2f} ms per write, "
                  f"{len(store.list_checkpoints())} checkpoints")


if __name__ == "__main__":
    main()
