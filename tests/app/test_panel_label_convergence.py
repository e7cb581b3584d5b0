"""Retraining labels say whether the Dawid-Skene fit converged, and one that did not is
trusted on no case (on a copy of the german_credit demo, whose simulated panel rated the
demo queue)."""

from __future__ import annotations

from functools import partial

import pytest
from app_support import DATA_SCIENTIST, full_demo_copy
from demo_support import DemoTemplates
from sklearn.exceptions import ConvergenceWarning

from audits.raters.consensus import DawidSkene, consensus_labels
from audits.retrain import stored
from audits.retrain.stored import panel_labels
from audits.store import Store


def test_labels_say_whether_dawid_skene_converged(
        demo_templates: DemoTemplates, tmp_path_factory: pytest.TempPathFactory,
        monkeypatch: pytest.MonkeyPatch) -> None:
    with full_demo_copy(demo_templates, tmp_path_factory, "fairpanel-ds-converged") as copy:
        run_id = copy.demo.queues.queue.audit_run.id
        with Store(copy.url) as store:
            labels = panel_labels(store, DATA_SCIENTIST, run_id)
            assert labels.converged is True
            assert "dawid_skene" in set(labels.table["source"])
            # One EM iteration cannot converge: the fit warns, says so, and none of its
            # posteriors is trusted (only adjudicated labels remain by default).
            monkeypatch.setattr(stored, "consensus_labels",
                                partial(consensus_labels, dawid_skene=DawidSkene(n_iter=1)))
            with pytest.warns(ConvergenceWarning, match="did not converge"):
                capped = panel_labels(store, DATA_SCIENTIST, run_id)
    assert capped.converged is False
    assert set(capped.table["source"]) <= {"adjudicated"}
    assert capped.rated == labels.rated
    assert capped.untrusted == capped.rated - capped.from_batches - len(capped.table)
