"""Docstring pieces shared by the estimators (one wording, one place)."""

PARAMS = {
    "n_components": """n_components : int, default=2
        Width of the latent code (the number of output features of
        ``transform``).""",
    "categorical_features": """categorical_features : 'from_dtype', array-like or None, \
default='from_dtype'
        Which columns are categorical, as in ``HistGradientBoostingRegressor``:
        ``'from_dtype'`` takes a DataFrame's columns of dtype ``category``,
        ``object`` or ``string``; column names, indices or a boolean mask
        name them (indices work on arrays too); None makes every column
        numeric. Boolean columns are binary. A table with categorical or
        binary columns gets one output head and loss per column (see the
        user guide's "Tables" section): numeric columns are standardised
        inside the model and use ``loss``, binary columns a Bernoulli
        cross-entropy, categorical columns a softmax cross-entropy, each
        divided by the loss of predicting the column's marginal. Numeric
        arrays and sparse matrices are used as they are.""",
    "hidden_layer_sizes": """hidden_layer_sizes : tuple of int, default=(128, 64)
        Sizes of the encoder's dense hidden layers; the decoder mirrors them.
        ``()`` gives a single linear layer each way.""",
    "activation": """activation : {'relu', 'identity', 'logistic', 'tanh', 'elu', 'gelu', \
'leaky_relu', 'selu', 'silu'}, default='relu'
        Activation of the hidden layers (dense and convolutional).""",
    "output_activation": """output_activation : {'auto', 'identity', 'sigmoid', 'tanh'}, \
default='auto'
        Activation of the decoder's output. ``'auto'`` is ``'sigmoid'`` for
        ``loss='bce'`` and ``'identity'`` otherwise. ``loss='bce'`` requires a
        sigmoid output (it is trained on logits, which is numerically stable)
        and refuses ``'identity'`` and ``'tanh'``.""",
    "batch_norm": """batch_norm : bool, default=False
        Batch normalisation after each dense hidden layer. Convolutional
        layers always use batch norm.""",
    "dropout": """dropout : float in [0, 1), default=0.0
        Dropout after each dense hidden layer, during training only.""",
    "image_shape": """image_shape : tuple (C, H, W) or None, default=None
        Read each row of ``X`` as a flattened ``C x H x W`` image and use a
        convolutional encoder and decoder. ``X`` stays 2-D, so Pipelines and
        grid search keep working. None builds a dense network.""",
    "conv_channels": """conv_channels : tuple of int, default=(32, 64)
        Channels of the stride-2 convolutions when ``image_shape`` is set;
        the decoder mirrors them with transposed convolutions.""",
    "kernel_size": """kernel_size : int, default=3
        Size of the square convolution kernels.""",
    "optimizer": """optimizer : {'adam', 'adamw', 'sgd', 'lbfgs'} or torch optimizer class, \
default='adam'
        ``'adam'`` and ``'adamw'`` use torch's fused implementation where
        the device supports it (same algorithm, fewer kernels per step).
        ``'sgd'`` uses Nesterov momentum 0.9. ``'lbfgs'`` trains full-batch
        with a strong-Wolfe line search (one optimizer step per epoch; no
        ``learning_rate_init`` or ``weight_decay``), good for small data; a
        step that would end at non-finite weights or loss (float32 rounding
        can corrupt L-BFGS's curvature memory late in a fit) is undone and
        retried from a fresh memory.""",
    "learning_rate": "learning_rate : {'constant', 'adaptive', 'one_cycle'}, "
                     """default=%(learning_rate)r
        Learning-rate schedule; ``'constant'`` and ``'adaptive'`` as in
        ``MLPRegressor``. ``'constant'`` keeps ``learning_rate_init``.
        ``'adaptive'`` divides the rate by 5 each time two consecutive
        epochs fail to improve the monitored loss (validation loss with
        early stopping, training loss otherwise) by ``tol`` (relative), down
        to 1e-3 times ``learning_rate_init``, within each ``fit`` call
        (skorch's ``LRScheduler`` with torch's ``ReduceLROnPlateau``).
        ``'one_cycle'`` (Smith 2018; torch's ``OneCycleLR``, stepped every
        batch) climbs from ``learning_rate_init / 25`` to
        ``learning_rate_init`` over the first 30%% of a training call's
        steps and anneals to nearly 0 by its end, while Adam's ``beta1``
        (SGD's momentum) cycles between 0.95 and 0.85. The cycle spans the
        call's epochs (``max_iter`` in ``fit``, the one epoch of a
        ``partial_fit`` call), which all run: the ``tol`` rule does not stop
        it (held-out labels choose the best epoch after the rate's peak,
        see ``target_weight``), and ``early_stopping='auto'`` holds no rows out (pass
        ``early_stopping=True`` to stop on a validation split, keeping the
        best epoch). It reaches a long run's error in a fraction of the
        epochs (``benchmarks/research_fit_defaults.py``). The rates are in
        ``net_.history[:, 'event_lr']``. Pass your own skorch
        ``LRScheduler`` in ``callbacks`` only with ``'constant'``. Ignored by
        ``'lbfgs'``.""",
    "learning_rate_init": """learning_rate_init : float, default=%(learning_rate_init)s
        Learning rate of the optimizer: with ``learning_rate='one_cycle'``,
        the peak of the cycle.""",
    "weight_decay": """weight_decay : float, default=0.0
        L2 penalty passed to the optimizer (decoupled for ``'adamw'``).""",
    "max_grad_norm": """max_grad_norm : float or None, default=None
        Clip the gradients' total norm to this value (skorch's
        ``GradientNormClipping``). None does not clip.""",
    "batch_size": """batch_size : int or 'auto', default='auto'
        Rows per training step (capped at the training rows; ignored by
        ``'lbfgs'``). ``'auto'`` is 64 up to 12,800 training rows, then the
        training rows / 200 rounded down to a power of two, at most 1024
        (256 at 60,000 rows, 512 at 200,000): bigger steps cost less per
        row, so an epoch of a big table takes seconds, not minutes. The
        value used is ``batch_size_``.""",
    "max_iter": """max_iter : int or 'auto', default=%(max_iter)r
        Maximum number of epochs of ``fit`` (the length of the cycle with
        ``learning_rate='one_cycle'``). ``'auto'``: with
        ``learning_rate='one_cycle'``, 60 epochs, and on small tables as
        many as give the cycle 2,500 steps (below about 2,700 training rows
        at batch 64: digits' 1,347 get 114 epochs), at most 200; with any
        other schedule 200. The value used is ``max_iter_``.""",
    "early_stopping": """early_stopping : bool or 'auto', default='auto'
        Hold out ``validation_fraction`` of the data, stop when the
        validation loss has not improved by ``tol`` (relative) for
        ``n_iter_no_change`` epochs, and restore the best weights.
        ``'auto'`` does so in ``fit`` on more than 10,000 rows (as
        ``HistGradientBoostingRegressor``), never in ``partial_fit``, nor with
        ``learning_rate='one_cycle'`` (its ``max_iter`` epochs are the budget).
        The value used is ``do_early_stopping_``.""",
    "validation_fraction": """validation_fraction : float in (0, 1), default=0.1
        Fraction held out for early stopping.""",
    "n_iter_no_change": """n_iter_no_change : int, default=10
        Epochs without improvement before stopping.""",
    "tol": """tol : float, default=1e-4
        Relative improvement of the monitored loss (validation loss with
        ``early_stopping``, training loss otherwise) below which an epoch
        counts as no improvement: an epoch improves if its loss is below
        ``best * (1 - tol)``. Unlike ``MLPRegressor``, whose ``tol`` is an
        absolute change of the loss, this does not depend on the data's
        scale. 0 trains ``max_iter`` epochs (with early stopping: until
        the validation loss stops improving at all) and never warns that
        the fit has not converged.""",
    "callbacks": """callbacks : list of skorch callbacks or (name, callback) tuples, default=None
        Passed through to the skorch net, e.g. ``skorch.callbacks.Checkpoint``
        or ``LRScheduler``. ``EpochScoring`` with an sklearn metric name
        (``'neg_mean_squared_error'``) scores the reconstructions of the
        training (``on_train=True``) or validation rows against those rows;
        not on a table, whose loss is in ``net_.history`` already.""",
    "device": """device : {'cpu', 'cuda', 'auto'} or torch.device, default='cpu'
        Where to train and infer. ``'auto'`` picks CUDA when available;
        ``'cuda:1'`` and other torch device strings work too. A device this
        machine or torch build lacks raises a ``ValueError`` naming the
        devices available.""",
    "n_jobs": """n_jobs : int or None, default=None
        Number of torch threads ``fit`` and inference use (torch's setting
        for the rest of the program is left as it was). None lets skae
        choose for each call and epoch: one thread for the small matrix
        products of most mini-batches, more only for steps with enough
        work (two threads from about 1.2e8 floating-point operations per
        step), and never more than the CPUs this process may use (its CPU
        affinity and cgroup quota), torch's own setting
        (``torch.set_num_threads``, ``OMP_NUM_THREADS``), or the CPUs other
        processes leave idle. Threads that wait for each other on a busy
        machine can make a fit several times slower than one thread. -1
        uses all usable CPUs, -2 all but one, as in joblib; a positive int
        is used as given. See the user guide's "Threads" section.""",
    "random_state": """random_state : int, RandomState instance or None, default=None
        Seeds every random draw of a fit: weight initialisation, shuffling,
        the early-stopping hold-out, input noise, dropout and the VAE's
        reparameterisation, from a generator of the fit's own (never
        torch's global one). An int gives identical fits on the same CPU,
        also when fits run concurrently in threads.""",
    "verbose": """verbose : int, default=0
        0 prints nothing, 1 shows a progress bar over epochs, 2 prints a
        table row per epoch.""",
    "warm_start": """warm_start : bool, default=False
        If True, ``fit`` continues from the current weights instead of
        re-initialising.""",
    "target_weight": """target_weight : float in [0, 1], default=0.0
        How much the code also learns to predict ``y`` (UMAP's name for the
        same knob). 0 ignores ``y``. Above 0, ``fit(X, y)`` and
        ``partial_fit(X, y)`` train linear heads on the code (for the VAE,
        on the posterior mean that ``transform`` returns) with the loss
        ``(1 - target_weight) * reconstruction + target_weight * target``.
        Targets are classes (integers, strings or booleans, two or more:
        softmax cross-entropy) or numbers (floats, standardised: squared
        error); a 2-D ``y`` gets one head per column. Unlabeled rows are
        marked as in scikit-learn's semi-supervised estimators, ``-1`` in
        integer ``y``, NaN or None otherwise, and train the reconstruction
        only; the target term of a batch is summed over its labeled rows and
        divided by all its rows, so sparse labels weigh little. With 10
        labeled rows or more, ``fit`` holds out a fifth of them (stratified
        by class) and keeps the epoch whose code predicts them best (with
        ``tol > 0`` and a constant or adaptive rate, training ends once
        they stop improving for ``n_iter_no_change`` epochs; under
        ``learning_rate='one_cycle'`` all the cycle's epochs run and the
        best after the rate's peak is kept).
        ``y`` with no labeled row is ignored, with a warning. See the user
        guide's "Codes for a classifier: when labels help".""",
}

ATTRIBUTES = """net_ : skorch.NeuralNet
        The trained skorch net (a ``NeuralNet`` subclass), the door to
        skorch: ``net_.history``, ``net_.module_`` (the torch module),
        ``net_.save_params``.
    n_components_ : int
        Width of the fitted code.
    n_features_in_ : int
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (``n_features_in_``,)
        Names of features seen during ``fit``, when ``X`` had string column
        names.
    loss_curve_ : list of float
        Training loss per epoch.
    validation_loss_curve_ : list of float or None
        Validation loss per epoch with ``early_stopping``, else None.
    n_iter_ : int
        Number of epochs run (across ``partial_fit`` calls and warm starts).
    batch_size_ : int
        Rows per training step, as resolved from ``batch_size``.
    do_early_stopping_ : bool
        Whether training held out validation rows, as resolved from
        ``early_stopping``.
    max_iter_ : int
        The epochs ``fit`` trains at most, as resolved from ``max_iter``.
    target_kind_ : {'classes', 'numbers'}, list of them, or None
        What the code learned to predict besides ``X`` (see
        ``target_weight``): the kind of a 1-D ``y``, one kind per column of
        a 2-D ``y``, None without a target.
    classes_ : ndarray or list
        The classes of a class target (a 2-D ``y``: one array per column,
        None for number columns). Only set when ``y`` had classes."""


def params(*names, **defaults):
    """The parameter docs for ``names``, indented for a class docstring.

    ``defaults`` fills the entries whose default differs between the
    estimators (``learning_rate``, ``learning_rate_init``, ``max_iter``).
    """
    return "\n    ".join(PARAMS[name] % defaults if "%(" in PARAMS[name] else PARAMS[name]
                          for name in names)
