"""The target heads: linear maps from the code to what ``y`` asks the code to predict."""

from torch import nn


class TargetHeads(nn.Module):
    """One linear head per target column, reading the code.

    A class column's head gives one logit per class, a number column's one
    value; their outputs stand side by side, and
    :func:`skae.losses.target_loss` scores them. They are trained with the
    model (the estimators' ``target_weight``) and are no part of
    ``encode``, ``decode`` or ``forward``.

    Parameters
    ----------
    n_components : int
        Width of the code.
    widths : sequence of int
        Each head's width: the number of classes, or 1 for numbers.

    Examples
    --------
    >>> import torch
    >>> heads = TargetHeads(2, (3, 1))
    >>> heads(torch.zeros(5, 2)).shape
    torch.Size([5, 4])
    """

    def __init__(self, n_components, widths):
        super().__init__()
        self.widths = tuple(int(w) for w in widths)
        self.linear = nn.Linear(n_components, sum(self.widths))

    def forward(self, code):
        """Return the heads' outputs for ``code``.

        Parameters
        ----------
        code : torch.Tensor of shape (n_samples, n_components)
            Codes (for a VAE, the posterior means).

        Returns
        -------
        out : torch.Tensor of shape (n_samples, sum(widths))
            Each head's logits (classes) or standardised number, side by side.
        """
        return self.linear(code)
