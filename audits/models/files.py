"""Model files: skops persistence, hashes, and safe loading of a user's model.

A user's model is loaded only from a skops file whose every type is on an allow-list
(:data:`TRUSTED_TYPES`). Pickle and joblib files are refused without being opened as
pickles: unpickling runs code chosen by whoever wrote the file.

Tree models need one more check. Their node arrays hold child and feature indices that
scikit-learn follows without bounds checks, so a crafted file of trusted types could
still crash the process at the first prediction; :func:`load_model` checks every tree
before it returns the model.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickletools
import tempfile
import zipfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import numpy.typing as npt
import skops.io as sio
from sklearn.ensemble._forest import BaseForest
from sklearn.ensemble._gb import BaseGradientBoosting
from sklearn.ensemble._hist_gradient_boosting.common import PREDICTOR_RECORD_DTYPE
from sklearn.ensemble._hist_gradient_boosting.gradient_boosting import (
    BaseHistGradientBoosting,
)
from sklearn.ensemble._hist_gradient_boosting.predictor import TreePredictor
from sklearn.pipeline import Pipeline
from sklearn.tree import BaseDecisionTree
from sklearn.tree._tree import Tree

__all__ = [
    "TRUSTED_TYPES",
    "UnsafeModelError",
    "file_sha256",
    "load_model",
    "positive_column",
    "save_model",
]

MSG_PICKLE = (
    "{path} is a pickle/joblib file{detail}: unpickling can execute arbitrary code, so "
    "fairpanel never loads pickle or joblib files. Export the model with skops instead: "
    '`import skops.io; skops.io.dump(model, "model.skops")`, and load the .skops file'
)
MSG_NOT_SKOPS = (
    "{path} is not a skops file ({reason}); export the model with "
    '`import skops.io; skops.io.dump(model, "model.skops")`'
)
MSG_UNTRUSTED = (
    "untrusted type(s) in model file: {types} ({path}); fairpanel loads scikit-learn "
    "pipelines of the types in audits.models.TRUSTED_TYPES only. If you have reviewed "
    "these types and trust them, pass them as extra_trusted"
)
MSG_BAD_TREE = (
    "{path} holds an inconsistent tree model ({reason}); refused, because scikit-learn "
    "follows tree node indices without bounds checks"
)
MSG_NO_PREDICT_PROBA = (
    "the model in {path} ({type}) has no predict_proba; fairpanel needs predicted "
    "probabilities of class 1"
)
MSG_NOT_BINARY_MODEL = (
    "the model {where}has {n} classes ({classes}); fairpanel audits binary decisions"
)

#: The default model kinds :func:`train_default_model` can train.

_NUMPY_SCALAR_TYPES = frozenset(
    f"{t.__module__}.{t.__name__}" for t in (np.dtype(c).type for c in "?bBhHiIlLqQefdUO")
)

#: Every type a model file may hold, as skops names it (``module.ClassName``): the
#: estimators fairpanel supports, the helper types skops reports for them, builtin
#: containers and numpy types. Found by saving each supported model (see the tests).
TRUSTED_TYPES: frozenset[str] = (
    frozenset(
        {
            "builtins.bool",
            "builtins.dict",
            "builtins.float",
            "builtins.int",
            "builtins.list",
            "builtins.slice",
            "builtins.str",
            "builtins.tuple",
            "numpy.dtype",
            "numpy.ndarray",
            "numpy.random._generator.Generator",
            "numpy.random.mtrand.RandomState",
            "sklearn._loss._loss.CyExponentialLoss",
            "sklearn._loss._loss.CyHalfBinomialLoss",
            "sklearn._loss.link.HalfLogitLink",
            "sklearn._loss.link.Interval",
            "sklearn._loss.link.LogitLink",
            "sklearn._loss.loss.ExponentialLoss",
            "sklearn._loss.loss.HalfBinomialLoss",
            "sklearn.compose._column_transformer.ColumnTransformer",
            "sklearn.dummy.DummyClassifier",
            "sklearn.ensemble._forest.ExtraTreesClassifier",
            "sklearn.ensemble._forest.RandomForestClassifier",
            "sklearn.ensemble._gb.GradientBoostingClassifier",
            "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
            "sklearn.ensemble._hist_gradient_boosting.gradient_boosting."
            "HistGradientBoostingClassifier",
            "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
            "sklearn.impute._base.SimpleImputer",
            "sklearn.linear_model._logistic.LogisticRegression",
            "sklearn.pipeline.Pipeline",
            "sklearn.preprocessing._data.StandardScaler",
            "sklearn.preprocessing._encoders.OneHotEncoder",
            "sklearn.preprocessing._encoders.OrdinalEncoder",
            "sklearn.preprocessing._label.LabelEncoder",
            "sklearn.tree._classes.DecisionTreeClassifier",
            "sklearn.tree._classes.DecisionTreeRegressor",
            "sklearn.tree._classes.ExtraTreeClassifier",
            "sklearn.tree._tree.Tree",
        }
    )
    | _NUMPY_SCALAR_TYPES
)

_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
_COMPRESSED_MAGIC = (
    (b"\x1f\x8b", "gzip"),
    (b"BZh", "bz2"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x5d\x00\x00", "lzma"),
    (b"\x04\x22\x4d\x18", "lz4"),
)
_PICKLE_SNIFF_BYTES = 1 << 20




class UnsafeModelError(ValueError):
    """Raised when a model file is refused: pickle/joblib, not skops, or untrusted."""



def save_model(pipeline: Pipeline, path: str | os.PathLike[str]) -> str:
    """Write a model with :func:`skops.io.dump` and return the file's sha256.

    The file is written to a temporary name and then renamed, so an existing file at
    ``path`` is never left half-written. skops output is not byte-reproducible (entry
    names and zip times vary), so the hash names this file, not the model's content.

    Parameters
    ----------
    pipeline : fitted estimator
        Usually :attr:`TrainedModel.pipeline`.
    path : str or path-like
        Where to write, conventionally ``*.skops``.

    Returns
    -------
    str
        Hex sha256 of the written file.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> clf = LogisticRegression().fit([[0.0], [1.0]], [0, 1])
    >>> digest = save_model(clf, tempfile.mkdtemp() + "/model.skops")
    >>> len(digest)
    64
    """
    data = sio.dumps(pipeline)
    target = Path(path)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return hashlib.sha256(data).hexdigest()


def file_sha256(path: str | os.PathLike[str]) -> str:
    """Return the hex sha256 of a file, read in chunks.

    Examples
    --------
    >>> p = Path(tempfile.mkdtemp()) / "empty"
    >>> _ = p.write_bytes(b"")
    >>> file_sha256(p)[:12]
    'e3b0c44298fc'
    """
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def load_model(path: str | os.PathLike[str], *, extra_trusted: Sequence[str] = ()) -> Pipeline:
    """Load a user's model from a skops file, refusing anything that is not safe.

    The checks run in this order, and nothing is unpickled at any point:

    1. pickle and joblib files (plain or zlib/gzip/bz2/xz/lzma/lz4-compressed) and any
       other non-zip content are refused;
    2. every type in the file (as listed by the file's schema and by
       :func:`skops.io.get_untrusted_types`) must be in :data:`TRUSTED_TYPES` or
       ``extra_trusted``;
    3. the file is loaded with :func:`skops.io.load`, trusting only those types;
    4. the model must have ``predict_proba`` and two classes, and every decision tree
       in it must have node indices in range.

    Parameters
    ----------
    path : str or path-like
        The model file.
    extra_trusted : sequence of str, default ()
        More type names (``module.ClassName``) to accept, for types an operator has
        reviewed. Tree checks still apply.

    Returns
    -------
    sklearn.pipeline.Pipeline
        The loaded pipeline; a bare estimator is wrapped as ``Pipeline([("model", est)])``.

    Raises
    ------
    UnsafeModelError
        A pickle/joblib file, a file that is not skops, an untrusted type, or an
        inconsistent tree.
    ValueError
        The model has no ``predict_proba`` or is not a binary classifier.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> path = tempfile.mkdtemp() + "/model.skops"
    >>> _ = save_model(LogisticRegression().fit([[0.0], [1.0]], [0, 1]), path)
    >>> load_model(path).predict_proba([[1.0]]).shape
    (1, 2)
    """
    if isinstance(extra_trusted, str):
        raise TypeError("extra_trusted must be a sequence of type names, not one string")
    shown = str(path)
    _refuse_non_skops(path, shown)
    types = _file_types(path, shown)
    refused = types - TRUSTED_TYPES - frozenset(extra_trusted)
    if refused:
        raise UnsafeModelError(MSG_UNTRUSTED.format(types=", ".join(sorted(refused)), path=shown))
    # skops trusts every scikit-learn estimator and some builtins by default; the
    # allow-list above is narrower, and every type in the file has now passed it.
    with _unreadable_as_unsafe(shown):
        model = sio.load(path, trusted=sorted(types))
    if not hasattr(model, "predict_proba"):
        raise ValueError(MSG_NO_PREDICT_PROBA.format(path=shown, type=type(model).__name__))
    positive_column(model, where=f"in {shown} ")
    _check_trees(model, shown)
    return model if isinstance(model, Pipeline) else Pipeline([("model", model)])


def positive_column(model: Any, *, where: str = "") -> int:
    """Return the column of ``predict_proba`` that holds class 1 (binary models only)."""
    classes = list(getattr(model, "classes_", []))
    if len(classes) != 2:
        raise ValueError(
            MSG_NOT_BINARY_MODEL.format(where=where, n=len(classes), classes=classes[:8])
        )
    return classes.index(1) if 1 in classes else 1


# --- loading helpers --------------------------------------------------------------


def _refuse_non_skops(path: str | os.PathLike[str], shown: str) -> None:
    with open(path, "rb") as f:
        head = f.read(_PICKLE_SNIFF_BYTES)
    if head.startswith(b"\x80"):
        raise UnsafeModelError(MSG_PICKLE.format(path=shown, detail=""))
    for magic, name in _COMPRESSED_MAGIC:
        if head.startswith(magic):
            raise UnsafeModelError(MSG_PICKLE.format(path=shown, detail=f" ({name}-compressed)"))
    if len(head) >= 2 and head[0] == 0x78 and (head[0] * 256 + head[1]) % 31 == 0:
        raise UnsafeModelError(MSG_PICKLE.format(path=shown, detail=" (zlib-compressed)"))
    if _is_old_pickle(head):
        raise UnsafeModelError(MSG_PICKLE.format(path=shown, detail=""))
    if not head.startswith(_ZIP_MAGIC):
        reason = "empty file" if not head else "not a zip archive"
        raise UnsafeModelError(MSG_NOT_SKOPS.format(path=shown, reason=reason))


def _is_old_pickle(head: bytes) -> bool:
    """Whether ``head`` parses as a protocol 0/1 pickle (parsed only, never loaded)."""
    try:
        for opcode, _, _ in pickletools.genops(io.BytesIO(head)):
            if opcode.name == "STOP":
                return True
    except Exception:  # any failure to parse means "not a pickle", whatever its type
        return False
    return False


def _file_types(path: str | os.PathLike[str], shown: str) -> frozenset[str]:
    """Every type and function named in the file's schema, and those skops distrusts."""
    with _unreadable_as_unsafe(shown):
        with zipfile.ZipFile(path) as archive:
            if "schema.json" not in archive.namelist():
                reason = "no schema.json in the zip archive"
                raise UnsafeModelError(MSG_NOT_SKOPS.format(path=shown, reason=reason))
            raw = archive.read("schema.json")
        return frozenset(sio.get_untrusted_types(file=path)) | _schema_types(json.loads(raw))


@contextmanager
def _unreadable_as_unsafe(shown: str) -> Iterator[None]:
    """Turn the errors of a malformed skops file into :class:`UnsafeModelError`."""
    try:
        yield
    except (zipfile.BadZipFile, KeyError, ValueError, TypeError, AttributeError) as err:
        if isinstance(err, UnsafeModelError):
            raise
        reason = f"unreadable skops content: {type(err).__name__}: {err}"
        raise UnsafeModelError(MSG_NOT_SKOPS.format(path=shown, reason=reason)) from err
    except RecursionError as err:
        reason = "unreadable skops content: nested too deeply"
        raise UnsafeModelError(MSG_NOT_SKOPS.format(path=shown, reason=reason)) from err


def _schema_types(schema: object) -> frozenset[str]:
    found: set[str] = set()
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            module, name = node.get("__module__"), node.get("__class__")
            if isinstance(module, str) and isinstance(name, str):
                found.add(f"{module}.{name}")
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return frozenset(found)


def _check_trees(model: object, shown: str) -> None:
    """Check every tree's node indices against the columns its owner is given."""
    for obj in _walk(model):
        if isinstance(obj, Tree):
            _check_tree(obj, obj.n_features, shown)
        elif isinstance(obj, TreePredictor):
            _check_predictor(obj, None, shown)
        # Unfitted estimators (constructor templates such as a forest's `estimator`)
        # hold no trees and cannot predict, so only fitted ones are checked.
        if isinstance(obj, BaseDecisionTree) and hasattr(obj, "tree_"):
            _check_tree(obj.tree_, _n_features(obj, shown), shown)
        elif isinstance(obj, BaseForest | BaseGradientBoosting) and hasattr(obj, "estimators_"):
            _check_ensemble(obj, shown)
        elif isinstance(obj, BaseHistGradientBoosting) and hasattr(obj, "_predictors"):
            _check_hist_boosting(obj, shown)


def _check_hist_boosting(model: Any, shown: str) -> None:
    n_features = _n_features(model, shown)
    categorical = getattr(model, "is_categorical_", None)
    if categorical is not None and np.any(categorical):
        _bad_tree(shown, "native categorical splits are not supported")
    for stage in model._predictors:
        for predictor in stage:
            _check_predictor(predictor, n_features, shown)


def _walk(root: object) -> Iterator[object]:
    seen: set[int] = set()
    stack = [root]
    while stack:
        obj = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        yield obj
        if isinstance(obj, dict):
            stack.extend(obj.values())
        elif isinstance(obj, list | tuple | set | frozenset):
            stack.extend(obj)
        elif isinstance(obj, np.ndarray):
            if obj.dtype == object:
                stack.extend(obj.ravel().tolist())
        elif hasattr(obj, "__dict__"):
            stack.extend(vars(obj).values())


def _check_ensemble(model: Any, shown: str) -> None:
    # Forests and GradientBoosting call their trees with check_input=False, so each
    # tree must fit the columns the ensemble itself validates.
    n_features = _n_features(model, shown)
    estimators = model.estimators_
    if isinstance(model, BaseGradientBoosting) and not (
        # predict_stages writes out[:, k] unchecked for k < estimators_.shape[1].
        isinstance(estimators, np.ndarray)
        and estimators.ndim == 2
        and estimators.shape[1] == 1
        and getattr(model, "n_trees_per_iteration_", None) == 1
    ):
        _bad_tree(shown, "a binary GradientBoosting model has one tree per stage")
    members = estimators.ravel().tolist() if isinstance(estimators, np.ndarray) else estimators
    for member in members:
        if not isinstance(member, BaseDecisionTree):
            _bad_tree(shown, f"ensemble member of type {type(member).__name__}")
        _check_tree(getattr(member, "tree_", None), n_features, shown)


def _n_features(model: object, shown: str) -> int:
    n = getattr(model, "n_features_in_", None)
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        _bad_tree(shown, f"{type(model).__name__}.n_features_in_ is {n!r}")
    return int(n)


def _check_tree(tree: object, n_features: int, shown: str) -> None:
    if not isinstance(tree, Tree):
        _bad_tree(shown, f"tree_ of type {type(tree).__name__}")
    # node_count is set from the file while the arrays are sized by capacity; every
    # array accessor reads node_count entries, so check it before reading any.
    if not 0 < tree.node_count <= tree.capacity or tree.n_outputs < 1:
        _bad_tree(shown, f"node_count {tree.node_count} for {tree.capacity} nodes")
    if tree.max_n_classes < 1:
        _bad_tree(shown, "a tree without classes")
    left, right = tree.children_left, tree.children_right
    leaf = left == -1
    if np.any(right[leaf] != -1):
        _bad_tree(shown, "a leaf with a right child")
    depth = _check_nodes(left, right, tree.feature, leaf, min(n_features, tree.n_features), shown)
    if depth > tree.max_depth:
        _bad_tree(shown, f"depth {depth} beyond max_depth {tree.max_depth}")


def _check_predictor(predictor: object, n_features: int | None, shown: str) -> None:
    nodes = getattr(predictor, "nodes", None)
    if not (
        isinstance(nodes, np.ndarray)
        and nodes.dtype == PREDICTOR_RECORD_DTYPE
        and nodes.ndim == 1
        and len(nodes) > 0
    ):
        _bad_tree(shown, "a HistGradientBoosting tree without a node array")
    leaf = nodes["is_leaf"] != 0
    if np.any(nodes["is_categorical"][~leaf] != 0):
        _bad_tree(shown, "native categorical splits are not supported")
    bound = n_features if n_features is not None else np.iinfo(np.intp).max
    left = nodes["left"].astype(np.int64)
    right = nodes["right"].astype(np.int64)
    _check_nodes(left, right, nodes["feature_idx"], leaf, bound, shown)


def _check_nodes(
    left: npt.NDArray[Any],
    right: npt.NDArray[Any],
    feature: npt.NDArray[Any],
    leaf: npt.NDArray[np.bool_],
    n_features: int,
    shown: str,
) -> int:
    """Check that internal nodes point forward to distinct nodes; return the depth."""
    n = len(left)
    ids = np.arange(n, dtype=np.int64)
    inner = ~leaf
    if not (
        np.all((left[inner] > ids[inner]) & (left[inner] < n))
        and np.all((right[inner] > ids[inner]) & (right[inner] < n))
        and np.all((feature[inner] >= 0) & (feature[inner] < n_features))
    ):
        _bad_tree(shown, f"a child or feature index out of range (n_features={n_features})")
    children = np.concatenate([left[inner], right[inner]]).astype(np.int64)
    if len(np.unique(children)) != len(children):
        _bad_tree(shown, "a node with two parents")
    ancestor = np.full(n, -1, dtype=np.int64)
    ancestor[children] = np.concatenate([ids[inner], ids[inner]])
    # Pointer jumping: log2(depth) rounds, each halving the distance to the root.
    depth = (ancestor >= 0).astype(np.int64)
    while np.any(ancestor >= 0):
        has = ancestor >= 0
        up = ancestor[has]
        depth[has] += depth[up]
        ancestor[has] = ancestor[up]
    return int(depth.max())


def _bad_tree(shown: str, reason: str) -> NoReturn:
    raise UnsafeModelError(MSG_BAD_TREE.format(path=shown, reason=reason))
