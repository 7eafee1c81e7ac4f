"""The code's targets: what ``fit(X, y)`` asks the code to predict, with ``target_weight``.

``y`` is described once, on a fresh fit (:func:`describe`): one target per
column of ``y`` (a 1-D ``y`` is one column), each either ``'classes'``
(integers, strings, booleans: a softmax head over its classes) or
``'numbers'`` (floats: one standardised value). Unlabeled entries are marked
as scikit-learn's semi-supervised estimators mark them: ``-1`` in integer
``y``, NaN or None otherwise. :func:`encode` turns ``y`` into the float
array training reads (class indices and standardised numbers, NaN where
unlabeled); :func:`held_out_rows` picks the labeled rows kept apart to
choose the epoch whose code predicts them best. The description is plain
data (``skae.save`` stores it); the heads' widths go into the network's
:class:`~skae.modules.Architecture`.
"""

import numpy as np
import pandas as pd

CLASSES, NUMBERS = "classes", "numbers"

#: The share of the labeled rows that ``fit`` holds out to choose the best
#: epoch for the target (stratified by class; at least one row per class of
#: two or more rows), when at least ``_TARGET_HOLDOUT_MIN_ROWS`` rows are labeled.
_TARGET_HOLDOUT = 0.2
_TARGET_HOLDOUT_MIN_ROWS = 10

#: The target term's denominator in each batch: ``'sqrt'`` (the geometric mean
#: of the batch's rows and its labeled rows), ``'rows'`` (the batch's rows: with
#: 2% of rows labeled the target weighs about 2% of what it weighs with all
#: labeled) or ``'labeled'`` (the batch's labeled rows). 'sqrt' was chosen on
#: the selection half of bench_latent_classifier (prototype; mean over 5 tables
#: at 2% / 10% labels: 0.676 / 0.747 against 'rows' 0.660 / 0.736).
_TARGET_SCALE = "sqrt"


def _columns(y):
    """``y`` as a list of 1-D numpy arrays (its columns), and whether it is 2-D."""
    if isinstance(y, pd.DataFrame):
        return [np.asarray(y[c]) for c in y.columns], True
    y = np.asarray(y)
    if y.ndim == 1:
        return [y], False
    if y.ndim == 2:
        return [y[:, j] for j in range(y.shape[1])], True
    raise ValueError(f"y must be 1-D or 2-D (one column per target); got shape {y.shape}.")


def _labeled(values):
    """Which entries of one column of ``y`` hold a label."""
    if values.dtype.kind in "iu":
        return values != -1
    if values.dtype.kind == "b":
        return np.ones(len(values), dtype=bool)
    return ~pd.isna(values)


def _kind(values):
    return NUMBERS if values.dtype.kind in "fc" else CLASSES


def _check_length(columns, n_rows):
    if len(columns[0]) != n_rows:
        raise ValueError(
            f"y has {len(columns[0])} rows but X has {n_rows}: pass one target per row of X "
            "(-1 in integer y, NaN or None otherwise, for an unlabeled row)."
        )


def n_labeled(y, n_rows):
    """The number of rows of ``y`` with at least one label (``y`` None: 0)."""
    if y is None:
        return 0
    columns, _ = _columns(y)
    _check_length(columns, n_rows)
    return int(np.any([_labeled(c) for c in columns], axis=0).sum())


def describe(y):
    """The description of ``y``'s targets (plain data).

    ``{'two_d': bool, 'columns': [...]}``, one dict per column of ``y``:
    ``{'kind': 'classes', 'classes': ndarray}`` or ``{'kind': 'numbers',
    'mean': float, 'scale': float}`` (of the labeled values). Raises
    ValueError for a class column with fewer than two classes among its
    labeled rows.
    """
    columns, two_d = _columns(y)
    targets = []
    for j, values in enumerate(columns):
        labeled = values[_labeled(values)]
        where = f"column {j} of y" if two_d else "y"
        if _kind(values) == NUMBERS:
            mean = float(labeled.mean()) if len(labeled) else 0.0
            scale = float(labeled.std()) if len(labeled) else 1.0
            targets.append({"kind": NUMBERS, "mean": mean,
                            "scale": scale if scale > 0 else 1.0})
            continue
        try:
            classes = np.unique(labeled)
        except TypeError:
            raise ValueError(
                f"{where} mixes labels of different types "
                f"({sorted({type(v).__name__ for v in labeled})}); classes must be comparable: "
                "make them all strings or all integers."
            ) from None
        if len(classes) < 2:
            raise ValueError(
                f"{where} has one class ({classes.tolist()}) among its labeled rows; a class "
                "target needs two or more. Label rows of another class, or leave y out "
                "(target_weight=0)."
            )
        targets.append({"kind": CLASSES, "classes": classes})
    return {"two_d": two_d, "columns": targets}


def kinds(targets):
    """``target_kind_``: the kind of a 1-D ``y``, or the list of a 2-D ``y``'s."""
    names = [t["kind"] for t in targets["columns"]]
    return names if targets["two_d"] else names[0]


def classes(targets):
    """``classes_``: a 1-D ``y``'s classes, or a 2-D ``y``'s list (None for numbers)."""
    found = [t.get("classes") for t in targets["columns"]]
    return found if targets["two_d"] else found[0]


def widths(targets):
    """The target heads' widths: each column's number of classes, or 1 for numbers."""
    return tuple(len(t["classes"]) if t["kind"] == CLASSES else 1 for t in targets["columns"])


def encode(y, targets, n_rows):
    """``y`` as training reads it: float32 of shape (n_rows, n_targets), NaN where unlabeled.

    Class columns become class indices, number columns standardised
    numbers. Raises ValueError for a ``y`` of another length or number of
    columns than described, or with classes not among the described ones.
    """
    columns, _ = _columns(y)
    _check_length(columns, n_rows)
    targets = targets["columns"]
    if len(columns) != len(targets):
        raise ValueError(
            f"y has {len(columns)} target column(s); this model was fitted on "
            f"{len(targets)}. Pass the same targets, or refit."
        )
    encoded = np.full((n_rows, len(targets)), np.nan, dtype=np.float32)
    for j, (values, target) in enumerate(zip(columns, targets)):
        labeled = _labeled(values)
        if target["kind"] == NUMBERS:
            numbers = values[labeled].astype(np.float64)
            encoded[labeled, j] = (numbers - target["mean"]) / target["scale"]
            continue
        known = target["classes"]
        found = values[labeled]
        index = np.searchsorted(known, found)
        unseen = (index >= len(known)) | (known[np.minimum(index, len(known) - 1)] != found)
        if unseen.any():
            raise ValueError(
                f"y has classes {sorted(set(found[unseen].tolist()), key=str)} that the first "
                f"fit did not see (it fixed the classes {known.tolist()}). As with "
                "SGDClassifier's classes, the first call fixes them: refit with all classes "
                "present, or mark these rows unlabeled."
            )
        encoded[labeled, j] = index
    return encoded


def held_out_rows(encoded, targets, rng):
    """The labeled rows ``fit`` holds out to choose the epoch, as an index array.

    ``_TARGET_HOLDOUT`` of the labeled rows (none below
    ``_TARGET_HOLDOUT_MIN_ROWS``), drawn from ``rng`` (a numpy Generator);
    for a class target (the first column), stratified: that share of each
    class, at least one row of each class of two rows or more.
    """
    labeled = np.flatnonzero(~np.isnan(encoded).all(axis=1))
    if len(labeled) < _TARGET_HOLDOUT_MIN_ROWS:
        return np.array([], dtype=np.intp)
    if targets["columns"][0]["kind"] != CLASSES:
        n = max(1, round(_TARGET_HOLDOUT * len(labeled)))
        return np.sort(rng.permutation(labeled)[:n])
    first = encoded[labeled, 0]
    chosen = []
    for c in np.unique(first[~np.isnan(first)]):
        rows = labeled[first == c]
        if len(rows) >= 2:
            n = max(1, round(_TARGET_HOLDOUT * len(rows)))
            chosen.append(rng.permutation(rows)[:n])
    return np.sort(np.concatenate(chosen)) if chosen else np.array([], dtype=np.intp)
