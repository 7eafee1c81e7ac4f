"""Save and load fitted skae estimators as one safetensors file, without pickle.

A pickle (or joblib) file runs code when it is loaded. The format written by
:func:`save` holds only tensors and JSON, so :func:`load` can open a file
from anywhere: it never unpickles and never calls ``torch.load``.

Layout of a file
----------------
One ``.safetensors`` file. Its tensors are

- ``module.<name>``: the torch module's ``state_dict()`` (parameters and
  buffers: batch-norm running statistics, the corruption bounds of a
  denoising autoencoder, the VAE's ``log_scale``);
- ``optimizer.<path>``: every tensor of the optimizer's ``state_dict()``
  (e.g. Adam's moments and step counts), so ``partial_fit`` continues
  where training stopped.

Its string metadata holds two entries: ``"skae"``, a canonical JSON document,
and ``"skae_sha256"``, a SHA-256 digest over that JSON and every tensor
(name, dtype, shape and bytes, in sorted name order), checked on load. The
JSON holds the format marker and version and the skae version, then the
saved estimator: its class name, ``get_params()`` and what the estimator
says it stores (its ``_save_state()``: for a network, the fitted
attributes, the module's and the optimizer's state, the skorch history and
the description of a table's columns). A meta-estimator such as
:class:`~skae.OutlierDetector` stores its fitted ``estimator_`` inside its
own state, in the same form (its tensors named after where it sits, e.g.
``fitted.estimator_.module.<name>``).
"""

import hashlib
import json
import os
import re
import tempfile
import warnings
from numbers import Integral, Real
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from ._autoencoder import AutoencoderTransformer
from ._imputer import AutoencoderImputer
from ._outliers import OutlierDetector
from ._vae import VAETransformer
from ._version import __version__
from ._wiring import resolve_device

__all__ = ["load", "save"]

FORMAT = "skae"
#: Version of the file layout; :func:`load` refuses files with a newer one.
#: 2 added the description of a table's columns (``"table"``); 3 added
#: meta-estimators (``"wrapper"``); 4 stores each estimator as it states
#: (``_save_state``), a meta-estimator's ``estimator_`` nested in its own
#: state, and names the module's tensors in the JSON (``"module"``).
FORMAT_VERSION = 4

_META_KEY = "skae"
_DIGEST_KEY = "skae_sha256"
_MODULE = "module."
_HEADER = ("format", "format_version", "skae_version")

#: The only classes save() stores and load() builds, by name: names in a file
#: are looked up here, never imported. Each states what it stores: its
#: ``_save_state()`` returns plain data, tensors and fitted skae estimators,
#: and its ``_load_state(state, device)`` restores them on a fresh instance
#: built from the saved (and checked) parameters.
_CLASSES = {cls.__name__: cls for cls in (
    AutoencoderTransformer, VAETransformer, OutlierDetector, AutoencoderImputer)}


def _check_saveable(estimator):
    if _CLASSES.get(type(estimator).__name__) is not type(estimator):
        names = list(_CLASSES)
        raise TypeError(
            f"save() stores {', '.join(names[:-1])} and {names[-1]} estimators, got "
            f"{type(estimator).__module__}.{type(estimator).__qualname__}."
        )


# ---------------------------------------------------------------- JSON
#
# JSON with a few tagged objects, so that what comes back has the types that
# went in: {"__tuple__": [...]}, {"__dict__": [[key, value], ...]} (keys that
# are not plain strings, e.g. the optimizer's integer parameter ids),
# {"__ndarray__": [...], "dtype": "<f8"}, {"__tensor__": "<tensor name>"},
# {"__pd_na__": true} and {"__estimator__": {"class": ..., "params": ..., ...}}
# (a skae estimator: with its fitted state where tensors may be stored).


def _join(name, key):
    return f"{name}.{key}" if name else str(key)


def _to_json(value, tensors=None, name=""):
    """Turn ``value`` into JSON data; tensors go into ``tensors`` by name.

    Without ``tensors`` (parameters), a skae estimator is stored unfitted
    (its class and parameters), and a tensor is refused.
    """
    if value is None or isinstance(value, (bool, str)):
        return value
    if value is pd.NA:
        return {"__pd_na__": True}
    if isinstance(value, torch.Tensor):
        if tensors is None:
            raise TypeError(f"{name or 'value'} is a tensor")
        tensors[name] = value
        return {"__tensor__": name}
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, Integral):
        return int(value)
    if isinstance(value, Real):
        return float(value)
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biufUO":
            raise TypeError(f"{name or 'value'} is an array of dtype {value.dtype}")
        return {"__ndarray__": _to_json(value.tolist(), None, name), "dtype": value.dtype.str}
    if isinstance(value, (list, tuple)):
        items = [_to_json(v, tensors, _join(name, i)) for i, v in enumerate(value)]
        return {"__tuple__": items} if isinstance(value, tuple) else items
    if isinstance(value, dict):
        items = [(k, _to_json(v, tensors, _join(name, k))) for k, v in value.items()]
        if all(isinstance(k, str) and not k.startswith("__") for k in value):
            return dict(items)
        return {"__dict__": [[_to_json(k, None, name), v] for k, v in items]}
    if isinstance(value, BaseEstimator):
        return {"__estimator__": _estimator_to_json(value, tensors, name)}
    raise TypeError(f"{name or 'value'} is a {type(value).__name__}")


def _estimator_to_json(estimator, tensors=None, name=""):
    """A skae estimator's class and parameters, and with ``tensors`` its fitted state."""
    _check_saveable(estimator)
    data = {"class": type(estimator).__name__, "params": _params_to_json(estimator)}
    if tensors is not None:
        check_is_fitted(estimator)
        for key, value in estimator._save_state().items():
            data[key] = _to_json(value, tensors, _join(name, key))
    return data


def _from_json(data, tensors=None, build=None):
    """Inverse of :func:`_to_json`; ``build(data)`` makes a tagged estimator."""
    if isinstance(data, list):
        return [_from_json(v, tensors, build) for v in data]
    if not isinstance(data, dict):
        return data
    if "__tuple__" in data:
        return tuple(_from_json(v, tensors, build) for v in data["__tuple__"])
    if "__dict__" in data:
        return {_from_json(k): _from_json(v, tensors, build) for k, v in data["__dict__"]}
    if "__ndarray__" in data:
        return np.array(_from_json(data["__ndarray__"]), dtype=np.dtype(data["dtype"]))
    if "__pd_na__" in data:
        return pd.NA
    if "__tensor__" in data:
        if tensors is None or data["__tensor__"] not in tensors:
            raise ValueError(f"the file refers to a tensor {data['__tensor__']!r} it lacks")
        return tensors[data["__tensor__"]]
    if "__estimator__" in data:
        if build is None:
            raise ValueError("the file holds an estimator where plain data belongs")
        return build(data["__estimator__"])
    return {k: _from_json(v, tensors, build) for k, v in data.items()}


def _canonical_json(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def _digest(meta_json, tensors):
    """SHA-256 over the JSON metadata and every tensor, in sorted name order."""
    h = hashlib.sha256()
    h.update(meta_json.encode("utf-8"))
    for name in sorted(tensors):
        t = tensors[name]
        h.update(f"\0{name}\0{t.dtype}\0{tuple(t.shape)}\0".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def _major(version):
    match = re.match(r"\d+", str(version))
    return int(match.group()) if match else None


# -------------------------------------------------------------- parameters


def _params_to_json(estimator):
    params = {}
    for name, value in estimator.get_params(deep=False).items():
        if name == "callbacks" and value:
            names = [cb[0] if isinstance(cb, tuple) else type(cb).__name__ for cb in value]
            warnings.warn(
                f"callbacks {names} are code and are not saved; the loaded estimator "
                "has callbacks=None. Pass them again with set_params(callbacks=...) "
                "before training it further.",
                UserWarning,
                stacklevel=4,  # save's caller
            )
            value = None
        elif name == "random_state" and isinstance(value, np.random.RandomState):
            warnings.warn(
                "random_state is a RandomState instance, whose state is not saved; the "
                "loaded estimator has random_state=None. Use an int seed to save it.",
                UserWarning,
                stacklevel=4,  # save's caller
            )
            value = None
        elif name == "device":
            value = str(value)
        elif name == "optimizer" and isinstance(value, type):
            if getattr(torch.optim, value.__name__, None) is not value:
                raise TypeError(
                    f"optimizer={value.__module__}.{value.__qualname__} cannot be saved: only "
                    "optimizer names and classes of torch.optim are stored (a custom class "
                    "is code). Use pickle for this estimator, from trusted sources only."
                )
            params[name] = {"__torch_optim__": value.__name__}
            continue
        try:
            params[name] = _to_json(value, None, name)
        except TypeError as exc:
            raise TypeError(
                f"Parameter {name}={value!r} cannot be saved as data ({exc}); "
                "use pickle for this estimator, from trusted sources only."
            ) from None
    return params


def _params_from_json(data, cls, build):
    params = {}
    for name, value in data.items():
        if isinstance(value, dict) and "__torch_optim__" in value:
            optim = getattr(torch.optim, str(value["__torch_optim__"]), None)
            if not (isinstance(optim, type) and issubclass(optim, torch.optim.Optimizer)) \
                    or optim is torch.optim.Optimizer:
                raise ValueError(
                    f"optimizer {value['__torch_optim__']!r} is not an optimizer class of "
                    "torch.optim in this installation."
                )
            params[name] = optim
        else:
            params[name] = _from_json(value, None, build)
    unknown = sorted(set(params) - set(cls().get_params(deep=False)))
    if unknown:
        raise ValueError(
            f"The file sets parameters {unknown} that {cls.__name__} of skae {__version__} "
            "does not have; it was written by an incompatible skae version."
        )
    return params


# ---------------------------------------------------------------- save/load


def _cpu_tensors(tensors):
    """Contiguous CPU tensors, none sharing memory (safetensors refuses that)."""
    out, seen = {}, set()
    for name, t in tensors.items():
        t = t.detach().to("cpu").contiguous()
        ptr = t.untyped_storage().data_ptr()
        if ptr in seen and t.numel():
            t = t.clone()
        seen.add(t.untyped_storage().data_ptr())
        out[name] = t
    return out


def save(estimator, path):
    """Save a fitted skae estimator to one ``.safetensors`` file, without pickle.

    The file holds the weights and buffers, the optimizer state, the
    parameters (``get_params()``), the fitted attributes and the training
    history: :func:`load` rebuilds an estimator whose ``transform``,
    ``inverse_transform`` and ``score_samples`` give identical results and
    whose ``partial_fit`` continues the training. A meta-estimator
    (:class:`~skae.OutlierDetector`, :class:`~skae.AutoencoderImputer`) is
    stored with its parameters, its fitted attributes (an imputer's
    missing-value indicator and the columns empty in fit included) and its
    fitted ``estimator_``. The file holds no code, so it is safe to load
    from an untrusted source, unlike a pickle or joblib file.

    Not stored, with a ``UserWarning``: ``callbacks`` (code; saved as None)
    and a ``random_state`` that is a ``RandomState`` instance (saved as
    None). The file is written to a temporary name and renamed, so an
    interrupted save never leaves a half-written file at ``path``.

    Parameters
    ----------
    estimator : AutoencoderTransformer, VAETransformer, OutlierDetector or AutoencoderImputer
        A fitted estimator (not a subclass); a meta-estimator's
        ``estimator_`` must be one of them too.
    path : str or path-like
        File to write, conventionally ending in ``.safetensors``; an
        existing file is replaced.

    Raises
    ------
    TypeError
        If ``estimator`` is not a skae estimator, or a parameter cannot be
        stored as data (e.g. an optimizer class outside ``torch.optim``).
    sklearn.exceptions.NotFittedError
        If ``estimator`` is not fitted.

    See Also
    --------
    load : Rebuild the estimator from the file.

    Examples
    --------
    >>> from pathlib import Path
    >>> from tempfile import TemporaryDirectory
    >>> import numpy as np
    >>> from skae import AutoencoderTransformer, load, save
    >>> X = np.random.RandomState(0).rand(50, 6)
    >>> ae = AutoencoderTransformer(hidden_layer_sizes=(8,), max_iter=3, random_state=0)
    >>> ae = ae.fit(X)
    >>> with TemporaryDirectory() as tmp:
    ...     save(ae, Path(tmp) / "ae.safetensors")
    ...     twin = load(Path(tmp) / "ae.safetensors")
    >>> np.array_equal(twin.transform(X), ae.transform(X))
    True
    >>> twin.n_iter_
    3
    """
    tensors = {}
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "skae_version": __version__,
            **_estimator_to_json(estimator, tensors)}
    tensors = _cpu_tensors(tensors)
    meta_json = _canonical_json(meta)
    metadata = {_META_KEY: meta_json, _DIGEST_KEY: _digest(meta_json, tensors)}

    path = Path(os.fspath(path))
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata=metadata)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it private; give it a normal file's mode
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _read(path):
    """Metadata and tensors of a skae file, validated; raise ValueError otherwise."""
    try:
        with safe_open(os.fspath(path), framework="pt", device="cpu") as f:
            metadata = f.metadata() or {}
            if _META_KEY not in metadata:
                raise ValueError(
                    f"{os.fspath(path)!r} is a safetensors file but not one written by "
                    "skae.save (it has no skae metadata)."
                )
            # Copies into fresh (64-byte aligned) memory: tensors read from the
            # file may sit at any offset, and CPU reductions (e.g. LBFGS's dot
            # products) sum in an alignment-dependent order, so an unaligned
            # optimizer state would continue training differently in the last bits.
            names = f.keys()
            tensors = {name: f.get_tensor(name).clone() for name in names}
    except SafetensorError as exc:
        raise ValueError(
            f"{os.fspath(path)!r} is not a readable skae file: it is not in safetensors "
            f"format, or it is truncated or corrupted ({exc})."
        ) from None
    try:
        meta = json.loads(metadata[_META_KEY])
    except ValueError:
        meta = None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ValueError(
            f"{os.fspath(path)!r} is not a skae file: its metadata lacks the skae format "
            "marker."
        )
    version = meta.get("format_version")
    if not isinstance(version, int) or not 1 <= version <= FORMAT_VERSION:
        raise ValueError(
            f"{os.fspath(path)!r} has skae file format version {version!r}, which skae "
            f"{__version__} cannot read (it reads versions 1 to {FORMAT_VERSION}); it was "
            f"written by skae {meta.get('skae_version')}. Upgrade skae to load it."
        )
    if metadata.get(_DIGEST_KEY) != _digest(metadata[_META_KEY], tensors):
        raise ValueError(
            f"{os.fspath(path)!r} failed its integrity check (SHA-256 digest mismatch): "
            "the file was altered or corrupted after it was saved."
        )
    if _major(meta.get("skae_version")) != _major(__version__):
        raise ValueError(
            f"{os.fspath(path)!r} was written by skae {meta.get('skae_version')}, whose "
            f"major version differs from this skae {__version__}; load it with a skae of "
            "the same major version."
        )
    return _upgraded(meta, tensors) if version < 4 else meta, tensors


def _upgraded(meta, tensors):
    """The metadata of a file of format 1 to 3 in format 4's layout."""
    meta = dict(meta)
    wrapper = meta.pop("wrapper", None)
    meta["module"] = {name[len(_MODULE):]: {"__tensor__": name} for name in tensors
                      if name.startswith(_MODULE)}
    if meta["format_version"] == 1:
        meta["predates_missing_values"] = True
    if wrapper is None:
        return meta
    # Format 3 described a meta-estimator's estimator_ at the top, itself under
    # "wrapper", and its estimator parameter as a clone of estimator_ or None.
    header = {key: meta.pop(key) for key in _HEADER}
    inner = {"class": meta["class"], "params": meta["params"]}
    params = {**wrapper["params"],
              "estimator": {"__estimator__": inner} if wrapper["estimator_param"] else None}
    return {**header, "class": wrapper["class"], "params": params,
            "fitted": {**wrapper["fitted"], "estimator_": {"__estimator__": meta}}}


def _target_device(params, device, warn=True):
    """The torch device to load on; updates ``params['device']`` to match."""
    if device is not None:
        target = resolve_device(device)
        params["device"] = device if isinstance(device, str) else str(device)
        return target
    saved = params.get("device", "cpu")
    try:
        return resolve_device(saved)
    except ValueError as exc:
        if saved != "auto" and torch.device(saved).type == "cuda" \
                and not torch.cuda.is_available():
            if warn:
                warnings.warn(
                    f"The estimator was saved with device={saved!r} but CUDA is not "
                    "available; loading it on the CPU and setting device='cpu'.",
                    UserWarning,
                    stacklevel=4,  # load's caller
                )
            params["device"] = "cpu"
            return torch.device("cpu")
        raise ValueError(f"{exc} Pass load(path, device=...) to choose another device.") \
            from None


def load(path, *, device=None):
    """Load an estimator written by :func:`save`, without pickle.

    The file is checked before anything is built: it must be a safetensors
    file with skae's format marker, of a format version this skae reads,
    from a skae of the same major version, and its SHA-256 digest must match
    its contents. Only :class:`~skae.AutoencoderTransformer`,
    :class:`~skae.VAETransformer`, :class:`~skae.OutlierDetector` and
    :class:`~skae.AutoencoderImputer` are built, from plain data, their
    parameters checked before anything else; nothing in the file is
    executed. Files written by skae 0.1 and 0.2 (formats 1 to 3) load too.

    Parameters
    ----------
    path : str or path-like
        A file written by :func:`save`.
    device : str, torch.device or None, default=None
        Where to put the model; also becomes the estimator's ``device``
        parameter. None uses the saved ``device``, except that a model saved
        on CUDA loads on the CPU (with a warning, and ``device='cpu'``) when
        CUDA is not available.

    Returns
    -------
    estimator : AutoencoderTransformer, VAETransformer, OutlierDetector or AutoencoderImputer
        The fitted estimator, in eval mode, with its parameters (``callbacks``
        None), fitted attributes, skorch history and optimizer state (a
        meta-estimator: its parameters, fitted attributes and fitted
        ``estimator_``).

    Raises
    ------
    ValueError
        If the file is not a skae file, is truncated or was altered, or was
        written by an incompatible skae version.

    See Also
    --------
    save : Write the file.

    Examples
    --------
    >>> from pathlib import Path
    >>> from tempfile import TemporaryDirectory
    >>> import numpy as np
    >>> from skae import VAETransformer, load, save
    >>> X = np.random.RandomState(0).rand(50, 6)
    >>> vae = VAETransformer(hidden_layer_sizes=(8,), max_iter=2, random_state=0).fit(X)
    >>> with TemporaryDirectory() as tmp:
    ...     save(vae, Path(tmp) / "vae.safetensors")
    ...     twin = load(Path(tmp) / "vae.safetensors", device="cpu")
    >>> np.array_equal(twin.sample(3, random_state=0), vae.sample(3, random_state=0))
    True
    >>> twin = twin.partial_fit(X)  # training goes on where it stopped
    >>> twin.n_iter_
    3
    """
    meta, tensors = _read(path)
    builder = _Builder(tensors, device)
    try:
        return builder.estimator({k: v for k, v in meta.items() if k not in _HEADER})
    except (KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"{os.fspath(path)!r} has incomplete skae metadata ({exc!r}).") \
            from None
    except ValueError as exc:
        raise ValueError(f"{os.fspath(path)!r} cannot be loaded: {exc}") from None


class _Builder:
    """Builds the estimators a file describes: registered classes only, from plain
    data, each checked as fit checks its parameters before anything is built."""

    def __init__(self, tensors, device):
        self.tensors, self.device = tensors, device

    def estimator(self, data, fitted=True):
        """The estimator ``data`` describes, fitted from its state or, in parameters, not."""
        if data.get("class") not in _CLASSES:
            raise ValueError(
                f"it holds an estimator of class {data.get('class')!r}; load() builds only "
                f"{', '.join(_CLASSES)}."
            )
        cls = _CLASSES[data["class"]]
        params = _params_from_json(data["params"], cls,
                                   lambda nested: self.estimator(nested, fitted=False))
        # An unfitted estimator (a parameter) follows the fitted one's device silently.
        device = _target_device(params, self.device, warn=fitted) if "device" in params \
            else None
        estimator = cls(**params)
        # The parameters come from a file: check them as fit would (an
        # InvalidParameterError is a ValueError) before building anything.
        estimator._validate_params()
        if fitted:
            state = {key: _from_json(value, self.tensors, self.estimator)
                     for key, value in data.items() if key not in ("class", "params")}
            estimator._load_state(state, device)
        return estimator
