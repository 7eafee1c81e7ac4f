"""Optimizers that skae builds by name, where torch's own needs a safeguard."""

import math

import torch


class LBFGS(torch.optim.LBFGS):
    """torch's L-BFGS, which undoes a step that ends where the loss is not finite.

    Late in a float32 fit, L-BFGS measures curvature from gradient
    differences of the size of rounding noise. Its memory can then propose
    a step orders of magnitude too long: the loss overflows, and the
    strong-Wolfe line search, interpolating with infinities, returns a NaN
    step length (every weight becomes NaN) or, when the trial losses are
    NaN, extrapolates to absurd weights. Such a step is undone, the memory
    (curvature pairs) cleared, and the step taken again from the fresh
    memory, whose first iteration is a short steepest-descent step. If that
    too ends non-finite, the weights stay as they were before the step and
    the memory is cleared again.

    A step whose loss evaluations were all finite ended at one of the
    points it evaluated (with the line search), so the check costs nothing
    more; after a non-finite evaluation, it evaluates the loss where the
    step ended.

    Parameters are those of :class:`torch.optim.LBFGS`.
    """

    @torch.no_grad()
    def step(self, closure):
        """Take one L-BFGS step (up to ``max_iter`` iterations), undone if it blows up.

        Parameters
        ----------
        closure : callable
            Re-evaluates the model (gradients included) and returns the loss.

        Returns
        -------
        loss : torch.Tensor
            The loss before the step, as :meth:`torch.optim.LBFGS.step` returns it.
        """
        params = self.param_groups[0]["params"]
        start = [p.detach().clone() for p in params]
        all_finite = True

        def watched():
            nonlocal all_finite
            loss = closure()
            all_finite = all_finite and _is_finite(loss)
            return loss

        loss = super().step(watched)
        for retry in (True, False):
            if self._ends_finite(params, closure, all_finite):
                break
            for p, value in zip(params, start):
                p.copy_(value)
            self.state.clear()  # forget the curvature pairs
            if retry:
                all_finite = True
                super().step(watched)
        return loss

    def _ends_finite(self, params, closure, all_finite):
        """Whether the weights ``params`` and the loss at them are finite."""
        if not all(torch.isfinite(p).all() for p in params):
            return False
        if all_finite and self.param_groups[0]["line_search_fn"] is not None:
            return True  # the step ended at a point it evaluated
        with torch.enable_grad():
            return _is_finite(closure())


def _is_finite(loss):
    return math.isfinite(float(torch.as_tensor(loss).detach()))
