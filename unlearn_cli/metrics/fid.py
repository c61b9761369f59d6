"""Frechet distance between two sets of features (the 'F' of FID, whatever the features are)."""
from __future__ import annotations

import math

import torch


def frechet_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """||mu_a - mu_b||^2 + Tr(S_a) + Tr(S_b) - 2 Tr((S_a^1/2 S_b S_a^1/2)^1/2), in float64.

    The last trace is the sum of the square roots of the eigenvalues of S_a S_b. With fewer
    samples than feature dimensions (e.g. 2048 Inception features) it is computed exactly in
    sample space: the nuclear norm of X_a X_b^T / sqrt((n_a - 1)(n_b - 1)), X the centred
    features, an (n_a x n_b) problem instead of two (d x d) eigendecompositions.
    """
    a, b = a.double(), b.double()
    mu_a, mu_b = a.mean(0), b.mean(0)
    xa, xb = a - mu_a, b - mu_b
    na, nb, dim = len(a), len(b), a.shape[1]
    trace_a, trace_b = xa.square().sum() / (na - 1), xb.square().sum() / (nb - 1)
    if max(na, nb) < dim:
        cross = torch.linalg.svdvals(xa @ xb.T / math.sqrt((na - 1) * (nb - 1))).sum()
    else:
        cov_a, cov_b = xa.T @ xa / (na - 1), xb.T @ xb / (nb - 1)
        root_a = _sqrt_psd(cov_a)
        cross = _sqrt_psd(root_a @ cov_b @ root_a).trace()
    value = (mu_a - mu_b).square().sum() + trace_a + trace_b - 2 * cross
    return float(value.clamp_min(0))


def _sqrt_psd(matrix: torch.Tensor) -> torch.Tensor:
    values, vectors = torch.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * values.clamp_min(0).sqrt()) @ vectors.T
