"""A prototype of label-shaped codes (issue #24), for ``bench_latent_classifier.py``.

Until ``AutoencoderTransformer(k, target_weight=w)`` exists, this module
stands in for it: a small PyTorch autoencoder fed by a table encoding that
mirrors skae's (numbers standardised, gaps at the column mean plus a
missing-value indicator, categories one-hot with a level for gaps; squared
error for numbers and indicators, cross-entropy per categorical column,
averaged over columns), with skae's default shape (hidden (128, 64), ReLU,
Adam at 3e-3) and a linear softmax head reading the code. Unlabeled rows
(``-1``, NaN or None in ``y``) train the reconstruction only.

The loss is ``(1 - w) * reconstruction + w * target``; the switches below
are the candidate ways of making the code generalise with few labels. They
are research material, not skae's API: the recipe that wins is written up in
the notes of issue #24 and implemented inside skae, and this module goes.

Switches (``LabelShapedAutoencoder`` parameters):

- ``target_scale``: how the target loss is averaged. ``'labeled'`` (the
  naive supervised autoencoder): mean over the labeled rows of the batch, so
  a batch with 2 labeled rows weighs them like the 126 others together;
  ``'rows'``: sum over the labeled rows divided by the batch size, so each
  labeled row weighs what a reconstructed row does and the target's share
  falls with the label rate; ``'sqrt'``: in between (divided by
  sqrt(labeled x batch)).
- ``holdout``: share of the labeled rows held out; the weights of the
  epoch with the lowest held-out target loss are kept (early stopping of
  the target, which also stops the reconstruction).
- ``corruption``: SCARF/VIME-style views: each column of a row is replaced,
  with this probability, by the same column of another row of the batch;
  the target loss reads the corrupted view of labeled rows, and
  ``consistency`` weighs a KL term pulling the head's prediction on the
  corrupted view of every row towards its prediction on the clean row.
- ``mixup``: alpha of a Beta(alpha, alpha) mixup of labeled rows' codes and
  one-hot targets before the head.
- ``code_dropout``: dropout on the code before the head only.
- ``head_decay``: L2 penalty on the head's weights.
- ``pseudo``: after training, unlabeled rows whose predicted class has at
  least this probability get it as a label and training continues for
  ``pseudo_epochs`` epochs.
- ``pretrain``: epochs of reconstruction alone before the target joins.
- ``target_grad``: ``'all'`` (the target trains the whole encoder) or
  ``'last'`` (its gradient stops at the encoder's last layer: the target can
  only turn the hidden features into the code linearly, the hidden features
  stay the reconstruction's).
"""

import math

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.nn import functional as F


def unlabeled_mask(y):
    """True where ``y`` marks a row as unlabeled (-1 for integers, NaN or None)."""
    y = np.asarray(y, dtype=object) if not np.issubdtype(np.asarray(y).dtype, np.number) \
        else np.asarray(y)
    if np.issubdtype(y.dtype, np.integer):
        return y == -1
    if np.issubdtype(y.dtype, np.floating):
        return np.isnan(y)
    return np.array([v is None or (isinstance(v, float) and math.isnan(v)) for v in y])


class TableEncoding:
    """Numbers standardised (gaps at the mean, plus an indicator), categories one-hot."""

    def fit(self, X):
        X = X if isinstance(X, pd.DataFrame) else pd.DataFrame(np.asarray(X, dtype=float))
        self.columns = list(X.columns)
        self.numeric, self.categorical = [], []
        for col in X:
            s = X[col]
            if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
                values = s.to_numpy(dtype=np.float64)
                mean, std = np.nanmean(values), np.nanstd(values)
                self.numeric.append((col, mean, std if std > 0 else 1.0,
                                     bool(np.isnan(values).any())))
            else:
                levels = sorted(map(str, s.dropna().unique()))
                if s.isna().any():
                    levels.append("<missing>")
                self.categorical.append((col, {v: i for i, v in enumerate(levels)}))
        self.n_numeric = len(self.numeric)
        self.n_indicators = sum(gap for *_, gap in self.numeric)
        self.blocks = [len(levels) for _, levels in self.categorical]
        return self

    def transform(self, X):
        X = X if isinstance(X, pd.DataFrame) else pd.DataFrame(np.asarray(X, dtype=float),
                                                               columns=self.columns)
        parts, indicators = [], []
        for col, mean, std, gap in self.numeric:
            values = (X[col].to_numpy(dtype=np.float64) - mean) / std
            missing = np.isnan(values)
            parts.append(np.where(missing, 0.0, values)[:, None])
            if gap:
                indicators.append(missing[:, None].astype(np.float64))
        codes = []
        for col, levels in self.categorical:
            s = X[col]
            idx = np.array([levels.get("<missing>" if pd.isna(v) else str(v), -1) for v in s])
            codes.append(idx)
        dense = np.hstack(parts + indicators) if parts or indicators else np.zeros((len(X), 0))
        onehot = [np.eye(n)[np.clip(i, 0, None)] * (i >= 0)[:, None]
                  for i, n in zip(codes, self.blocks)]
        flat = np.hstack([dense] + onehot) if onehot else dense
        labels = np.stack(codes, axis=1) if codes else np.zeros((len(X), 0), dtype=int)
        return flat.astype(np.float32), labels.astype(np.int64)

    def column_slices(self):
        """(start, stop) of each original column in the encoded row (indicators apart)."""
        out = [(j, j + 1) for j in range(self.n_numeric)]
        start = self.n_numeric + self.n_indicators
        for n in self.blocks:
            out.append((start, start + n))
            start += n
        return out


class _Model(nn.Module):
    def __init__(self, n_in, n_components, hidden, n_out, n_classes):
        super().__init__()
        sizes = [n_in, *hidden]
        enc = []
        for a, b in zip(sizes[:-1], sizes[1:]):
            enc += [nn.Linear(a, b), nn.ReLU()]
        self.encoder = nn.Sequential(*enc, nn.Linear(sizes[-1], n_components))
        sizes = [n_components, *reversed(hidden)]
        dec = []
        for a, b in zip(sizes[:-1], sizes[1:]):
            dec += [nn.Linear(a, b), nn.ReLU()]
        self.decoder = nn.Sequential(*dec, nn.Linear(sizes[-1], n_out))
        self.head = nn.Linear(n_components, n_classes)


class LabelShapedAutoencoder:
    """Autoencoder whose code is also trained to predict ``y`` (see the module docstring)."""

    def __init__(self, n_components=8, target_weight=0.5, *, hidden_layer_sizes=(128, 64),
                 max_iter=60, batch_size=128, learning_rate=3e-3, target_scale="labeled",
                 holdout=0.0, corruption=0.0, consistency=0.0, mixup=0.0, code_dropout=0.0,
                 head_decay=0.0, pseudo=0.0, pseudo_epochs=20, pretrain=0, target_grad="all",
                 random_state=0):
        self.n_components = n_components
        self.target_weight = target_weight
        self.hidden_layer_sizes = hidden_layer_sizes
        self.max_iter = max_iter
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.target_scale = target_scale
        self.holdout = holdout
        self.corruption = corruption
        self.consistency = consistency
        self.mixup = mixup
        self.code_dropout = code_dropout
        self.head_decay = head_decay
        self.pseudo = pseudo
        self.pseudo_epochs = pseudo_epochs
        self.pretrain = pretrain
        self.target_grad = target_grad
        self.random_state = random_state

    # ------------------------------------------------------------ losses

    def _reconstruction(self, out, x, cats):
        enc = self.encoding_
        n_dense = enc.n_numeric + enc.n_indicators
        terms = []
        if n_dense:
            terms.append(((out[:, :n_dense] - x[:, :n_dense]) ** 2).sum(dim=1))
        start = n_dense
        for j, n in enumerate(enc.blocks):
            terms.append(F.cross_entropy(out[:, start:start + n], cats[:, j], reduction="none"))
            start += n
        n_cols = n_dense + len(enc.blocks)
        return torch.stack(terms, dim=1).sum(dim=1) / max(n_cols, 1) if len(terms) > 1 \
            else terms[0] / max(n_cols, 1)

    def _corrupt(self, x, gen):
        """Each column replaced, with probability ``corruption``, from another row."""
        n = len(x)
        out = x.clone()
        perm = torch.randint(n, (n,), generator=gen)
        donor = x[perm]
        enc = self.encoding_
        slices = enc.column_slices()
        hit = torch.rand((n, len(slices)), generator=gen) < self.corruption
        for j, (a, b) in enumerate(slices):
            m = hit[:, j:j + 1]
            out[:, a:b] = torch.where(m, donor[:, a:b], out[:, a:b])
        return out

    def _encode_for_target(self, model, x):
        if self.target_grad == "all":
            return model.encoder(x)
        with torch.no_grad():
            hidden = model.encoder[:-1](x)
        return model.encoder[-1](hidden)

    def _target_loss(self, model, x, y, labeled, n_batch, gen):
        if not labeled.any():
            return x.new_zeros(())
        xl, yl = x[labeled], y[labeled]
        if self.corruption > 0:
            xl = self._corrupt(xl, gen)
        z = self._encode_for_target(model, xl)
        if self.code_dropout > 0:
            z = F.dropout(z, self.code_dropout, training=True)
        n_classes = model.head.out_features
        if self.mixup > 0 and len(yl) > 1:
            lam = float(np.random.default_rng(int(torch.randint(2**31, (1,), generator=gen)))
                        .beta(self.mixup, self.mixup))
            perm = torch.randperm(len(yl), generator=gen)
            z = lam * z + (1 - lam) * z[perm]
            target = lam * F.one_hot(yl, n_classes) + (1 - lam) * F.one_hot(yl[perm], n_classes)
            per_row = -(target * F.log_softmax(model.head(z), dim=1)).sum(dim=1)
        else:
            per_row = F.cross_entropy(model.head(z), yl, reduction="none")
        n_lab = len(yl)
        if self.target_scale == "labeled":
            return per_row.sum() / n_lab
        if self.target_scale == "rows":
            return per_row.sum() / n_batch
        return per_row.sum() / math.sqrt(n_lab * n_batch)  # 'sqrt'

    # -------------------------------------------------------------- fit

    def fit(self, X, y=None):
        torch.manual_seed(self.random_state)
        gen = torch.Generator().manual_seed(self.random_state)
        rng = np.random.default_rng(self.random_state)
        self.encoding_ = TableEncoding().fit(X)
        flat, cats = self.encoding_.transform(X)
        n = len(flat)
        y_codes = np.full(n, -1, dtype=np.int64)
        if y is not None and self.target_weight > 0:
            missing = unlabeled_mask(y)
            known = np.asarray(y, dtype=object)[~missing]
            self.classes_ = np.array(sorted(set(known.tolist())), dtype=object)
            lookup = {c: i for i, c in enumerate(self.classes_)}
            y_codes[~missing] = [lookup[v] for v in known]
        else:
            self.classes_ = np.array([0, 1], dtype=object)
        n_classes = len(self.classes_)
        labeled_idx = np.flatnonzero(y_codes >= 0)
        held = np.array([], dtype=int)
        if self.holdout > 0 and len(labeled_idx) >= 10:
            held = rng.choice(labeled_idx, max(2, round(self.holdout * len(labeled_idx))),
                              replace=False)
        train_y = y_codes.copy()
        train_y[held] = -1
        model = _Model(flat.shape[1], self.n_components, self.hidden_layer_sizes,
                       flat.shape[1], n_classes)
        params = [{"params": list(model.encoder.parameters()) + list(model.decoder.parameters())},
                  {"params": model.head.parameters(), "weight_decay": self.head_decay}]
        opt = torch.optim.Adam(params, lr=self.learning_rate)
        X_t, C_t = torch.from_numpy(flat), torch.from_numpy(cats)
        best = (math.inf, None)
        w = self.target_weight
        epochs = self.max_iter
        self.n_iter_ = 0
        for epoch in range(epochs + (self.pseudo_epochs if self.pseudo > 0 else 0)):
            if self.pseudo > 0 and epoch == epochs:  # pseudo-labels from the head
                with torch.no_grad():
                    proba = F.softmax(model.head(model.encoder(X_t)), dim=1).numpy()
                confident = (train_y < 0) & (proba.max(axis=1) >= self.pseudo)
                confident[held] = False
                train_y[confident] = proba.argmax(axis=1)[confident]
            Y_t = torch.from_numpy(train_y)
            model.train()
            perm = torch.randperm(n, generator=gen)
            use_target = w > 0 and epoch >= self.pretrain and (train_y >= 0).any()
            for start in range(0, n, self.batch_size):
                idx = perm[start:start + self.batch_size]
                xb, cb, yb = X_t[idx], C_t[idx], Y_t[idx]
                z = model.encoder(xb)
                rec = self._reconstruction(model.decoder(z), xb, cb).mean()
                loss = (1 - w) * rec if use_target else rec
                if use_target:
                    lab = yb >= 0
                    loss = loss + w * self._target_loss(model, xb, yb, lab, len(idx), gen)
                    if self.consistency > 0:
                        with torch.no_grad():
                            p_clean = F.softmax(model.head(z), dim=1)
                        logp = F.log_softmax(model.head(model.encoder(self._corrupt(xb, gen))),
                                             dim=1)
                        kl = F.kl_div(logp, p_clean, reduction="batchmean")
                        loss = loss + w * self.consistency * kl
                opt.zero_grad()
                loss.backward()
                opt.step()
            self.n_iter_ = epoch + 1
            if len(held) and use_target:
                model.eval()
                with torch.no_grad():
                    h = torch.from_numpy(held)
                    val = F.cross_entropy(model.head(model.encoder(X_t[h])),
                                          torch.from_numpy(y_codes[held])).item()
                if val < best[0]:
                    best = (val, {k: v.clone() for k, v in model.state_dict().items()})
        if best[1] is not None:
            model.load_state_dict(best[1])
        self.model_ = model.eval()
        return self

    def transform(self, X):
        flat, _ = self.encoding_.transform(X)
        with torch.no_grad():
            return self.model_.encoder(torch.from_numpy(flat)).numpy().astype(np.float64)

    def fit_transform(self, X, y=None):
        return self.fit(X, y).transform(X)


#: Named variants for ``bench_latent_classifier.py --variants``: keyword arguments of
#: ``LabelShapedAutoencoder`` beyond ``n_components``, ``target_weight`` and the seed.
VARIANTS = {
    "unsup": {"target_weight": 0.0},
    "naive": {},
    "rows": {"target_scale": "rows"},
    "sqrt": {"target_scale": "sqrt"},
    "holdout": {"holdout": 0.2},
    "scarf": {"corruption": 0.3},
    "scarf_cons": {"corruption": 0.3, "consistency": 1.0},
    "mixup": {"mixup": 0.4},
    "codedrop": {"code_dropout": 0.5},
    "headdecay": {"head_decay": 1e-2},
    "pseudo": {"pseudo": 0.95},
    "pretrain": {"pretrain": 30},
    "last": {"target_grad": "last"},
}


def make(variant, n_components, target_weight, random_state):
    """The prototype estimator of a named variant (``VARIANTS``) or ``name+name``."""
    kwargs = {"target_weight": target_weight}
    for part in variant.split("+"):
        kwargs.update(VARIANTS[part])
    return LabelShapedAutoencoder(n_components, random_state=random_state, **kwargs)
