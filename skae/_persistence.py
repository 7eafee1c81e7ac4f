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

Its string metadata holds two entries: ``"skae"``, a canonical JSON document
(format marker and version, skae version, class name, ``get_params()``, the
fitted attributes, the non-tensor part of the optimizer state and the skorch
history; for a meta-estimator such as :class:`~skae.OutlierDetector`, a
``"wrapper"`` entry with its class, parameters and fitted attributes, the
rest describing its fitted ``estimator_``), and ``"skae_sha256"``, a SHA-256
digest over that JSON and every tensor (name, dtype, shape and bytes, in
sorted name order), checked on load.
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
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from sklearn.base import clone
from sklearn.utils.validation import check_is_fitted
from skorch.history import History

from ._autoencoder import AutoencoderTransformer
from ._base import resolve_device
from ._vae import VAETransformer
from ._version import __version__

__all__ = ["load", "save"]

FORMAT = "skae"
#: Version of the file layout; :func:`load` refuses files with a newer one.
#: 2 added the description of a table's columns (``"table"``); 3 added
#: meta-estimators (``"wrapper"``).
FORMAT_VERSION = 3

_META_KEY = "skae"
_DIGEST_KEY = "skae_sha256"
_MODULE, _OPTIMIZER = "module.", "optimizer."

# The only classes load() builds; names are looked up here, never imported.
_CLASS_NAMES = ("AutoencoderTransformer", "VAETransformer")

# Fitted attributes stored besides the weights (all plain data).
_FITTED = (
    "n_features_in_",
    "feature_names_in_",
    "n_components_",
    "n_iter_",
    "loss_curve_",
    "validation_loss_curve_",
    "batch_size_",
    "do_early_stopping_",
)


# Meta-estimators around one of them, and their fitted attributes (plain data).
_WRAPPER_NAMES = ("OutlierDetector",)
_WRAPPER_FITTED = ("offset_", "max_samples_", "n_features_in_", "feature_names_in_")


def _classes():
    return {"AutoencoderTransformer": AutoencoderTransformer, "VAETransformer": VAETransformer}


def _wrapper_classes():
    from ._outliers import OutlierDetector

    return {"OutlierDetector": OutlierDetector}


# ---------------------------------------------------------------- encoding
#
# JSON with a few tagged objects, so that what comes back has the types that
# went in: {"__tuple__": [...]}, {"__dict__": [[key, value], ...]} (keys that
# are not plain strings, e.g. the optimizer's integer parameter ids),
# {"__ndarray__": [...], "dtype": "<f8"} and {"__tensor__": "<tensor name>"}.


def _encode(value, tensors=None, name=""):
    """Turn ``value`` into JSON data; tensors go into ``tensors`` by name."""
    if value is None or isinstance(value, (bool, str)):
        return value
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
        return {"__ndarray__": _encode(value.tolist(), None, name), "dtype": value.dtype.str}
    if isinstance(value, (list, tuple)):
        items = [_encode(v, tensors, f"{name}.{i}") for i, v in enumerate(value)]
        return {"__tuple__": items} if isinstance(value, tuple) else items
    if isinstance(value, dict):
        items = [(k, _encode(v, tensors, f"{name}.{k}")) for k, v in value.items()]
        if all(isinstance(k, str) and not k.startswith("__") for k in value):
            return dict(items)
        return {"__dict__": [[_encode(k, None, name), v] for k, v in items]}
    raise TypeError(f"{name or 'value'} is a {type(value).__name__}")


def _decode(data, tensors=None):
    """Inverse of :func:`_encode`."""
    if isinstance(data, list):
        return [_decode(v, tensors) for v in data]
    if not isinstance(data, dict):
        return data
    if "__tuple__" in data:
        return tuple(_decode(v, tensors) for v in data["__tuple__"])
    if "__dict__" in data:
        return {_decode(k): _decode(v, tensors) for k, v in data["__dict__"]}
    if "__ndarray__" in data:
        return np.array(_decode(data["__ndarray__"]), dtype=np.dtype(data["dtype"]))
    if "__tensor__" in data:
        if tensors is None or data["__tensor__"] not in tensors:
            raise ValueError(f"the file refers to a tensor {data['__tensor__']!r} it lacks")
        return tensors[data["__tensor__"]]
    return {k: _decode(v, tensors) for k, v in data.items()}


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


def _encode_params(estimator, skip=()):
    params = {}
    for name, value in estimator.get_params(deep=False).items():
        if name in skip:
            continue
        if name == "callbacks" and value:
            names = [cb[0] if isinstance(cb, tuple) else type(cb).__name__ for cb in value]
            warnings.warn(
                f"callbacks {names} are code and are not saved; the loaded estimator "
                "has callbacks=None. Pass them again with set_params(callbacks=...) "
                "before training it further.",
                UserWarning,
                stacklevel=3,
            )
            value = None
        elif name == "random_state" and isinstance(value, np.random.RandomState):
            warnings.warn(
                "random_state is a RandomState instance, whose state is not saved; the "
                "loaded estimator has random_state=None. Use an int seed to save it.",
                UserWarning,
                stacklevel=3,
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
            params[name] = _encode(value, None, name)
        except TypeError as exc:
            raise TypeError(
                f"Parameter {name}={value!r} cannot be saved as data ({exc}); "
                "use pickle for this estimator, from trusted sources only."
            ) from None
    return params


def _decode_params(data, cls):
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
            params[name] = _decode(value)
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
    whose ``partial_fit`` continues the training. It holds no code, so it is
    safe to load from an untrusted source, unlike a pickle or joblib file.

    Not stored, with a ``UserWarning``: ``callbacks`` (code; saved as None)
    and a ``random_state`` that is a ``RandomState`` instance (saved as
    None). The file is written to a temporary name and renamed, so an
    interrupted save never leaves a half-written file at ``path``.

    Parameters
    ----------
    estimator : AutoencoderTransformer or VAETransformer
        A fitted estimator (not a subclass).
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
    wrapper = None
    name = type(estimator).__name__
    if name in _WRAPPER_NAMES and _wrapper_classes()[name] is type(estimator):
        check_is_fitted(estimator)
        wrapper = {
            "class": name,
            "params": _encode_params(estimator, skip=("estimator",)),
            "estimator_param": estimator.estimator is not None,
            "fitted": {attr: _encode(getattr(estimator, attr), None, attr)
                       for attr in _WRAPPER_FITTED if hasattr(estimator, attr)},
        }
        estimator = estimator.estimator_
        name = type(estimator).__name__
    if name not in _CLASS_NAMES or _classes()[name] is not type(estimator):
        raise TypeError(
            f"save() stores AutoencoderTransformer, VAETransformer and OutlierDetector "
            f"estimators, got {type(estimator).__module__}.{type(estimator).__qualname__}."
        )
    check_is_fitted(estimator)
    net = estimator.net_
    tensors = {_MODULE + k: v for k, v in net.module_.state_dict().items()}
    optimizer_state = _encode(net.optimizer_.state_dict(), tensors, _OPTIMIZER.rstrip("."))
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "skae_version": __version__,
        "class": name,
        "params": _encode_params(estimator),
        "fitted": {
            attr: _encode(getattr(estimator, attr), None, attr)
            for attr in _FITTED
            if hasattr(estimator, attr)
        },
        "optimizer": optimizer_state,
        "history": _encode(net.history.to_list(), None, "history"),
        "table": _encode(None if estimator._table is None
                         else [c.to_dict() for c in estimator._table], None, "table"),
    }
    if wrapper is not None:
        meta["wrapper"] = wrapper
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
    if meta.get("class") not in _CLASS_NAMES:
        raise ValueError(
            f"{os.fspath(path)!r} holds an estimator of class {meta.get('class')!r}; "
            f"load() builds only {', '.join(_CLASS_NAMES)}."
        )
    wrapper = meta.get("wrapper")
    if wrapper is not None and (not isinstance(wrapper, dict)
                                or wrapper.get("class") not in _WRAPPER_NAMES):
        raise ValueError(
            f"{os.fspath(path)!r} holds a meta-estimator of class "
            f"{wrapper.get('class') if isinstance(wrapper, dict) else wrapper!r}; load() "
            f"builds only {', '.join(_WRAPPER_NAMES)}."
        )
    return meta, tensors


def _target_device(params, device):
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
            warnings.warn(
                f"The estimator was saved with device={saved!r} but CUDA is not available; "
                "loading it on the CPU and setting device='cpu'.",
                UserWarning,
                stacklevel=3,
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
    its contents. Only :class:`~skae.AutoencoderTransformer` and
    :class:`~skae.VAETransformer` are built, from plain data; nothing in the
    file is executed.

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
    estimator : AutoencoderTransformer or VAETransformer
        The fitted estimator, in eval mode, with its parameters (``callbacks``
        None), fitted attributes, skorch history and optimizer state.

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
    cls = _classes()[meta["class"]]
    try:
        params = _decode_params(meta["params"], cls)
        fitted = {k: _decode(v) for k, v in meta["fitted"].items() if k in _FITTED}
        optimizer_state = _decode(meta["optimizer"], tensors)
        history = History(_decode(meta["history"]))
        n_features = int(fitted["n_features_in_"])
        table = _decode(meta.get("table"))
    except (KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"{os.fspath(path)!r} has incomplete skae metadata ({exc!r}).") \
            from None
    target = _target_device(params, device)
    module_state = {
        k[len(_MODULE):]: v for k, v in tensors.items() if k.startswith(_MODULE)
    }

    estimator = cls(**params)
    # The parameters come from a file: check them as fit would (an
    # InvalidParameterError is a ValueError) before building anything.
    estimator._validate_params()
    try:
        estimator._set_table(table)
        architecture = estimator._architecture(n_features)
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{os.fspath(path)!r} describes an invalid network ({exc}).") from None
    # What fit resolved from batch_size and early_stopping shapes the net; files
    # written before these parameters took 'auto' hold ints and booleans.
    estimator.batch_size_ = fitted.get("batch_size_", params.get("batch_size", 64))
    estimator.do_early_stopping_ = fitted.get("do_early_stopping_",
                                              params.get("early_stopping") is True)
    # Initial weights are drawn from a throw-away generator: the file's replace them.
    net = estimator._make_net(architecture, target, torch.Generator(device=target))
    if meta["format_version"] == 1 and "input.fill" in net.module_.state_dict():
        # Format 1 predates missing values: its models fill them with zeros.
        module_state.setdefault("input.fill", torch.zeros(n_features))
    try:
        net.module_.load_state_dict(module_state, strict=True)
        net.optimizer_.load_state_dict(optimizer_state)
    except (RuntimeError, ValueError, KeyError) as exc:
        raise ValueError(
            f"The weights in {os.fspath(path)!r} do not fit the architecture its parameters "
            f"describe: {exc}"
        ) from None
    net.history = history
    net.module_.eval()
    estimator.net_ = net
    for attr, value in fitted.items():
        setattr(estimator, attr, value)
    if meta.get("wrapper") is not None:
        return _load_wrapper(meta["wrapper"], estimator, path)
    return estimator


def _load_wrapper(data, estimator, path):
    """The meta-estimator ``data`` describes, around the loaded ``estimator``."""
    cls = _wrapper_classes()[data["class"]]
    try:
        params = _decode_params(data["params"], cls)
        fitted = {k: _decode(v) for k, v in data["fitted"].items() if k in _WRAPPER_FITTED}
        wrapper = cls(estimator=clone(estimator) if data["estimator_param"] else None,
                      **params)
        wrapper._validate_params()
    except (KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"{os.fspath(path)!r} has incomplete skae metadata ({exc!r}).") \
            from None
    wrapper.estimator_ = estimator
    for attr, value in fitted.items():
        setattr(wrapper, attr, value)
    return wrapper
