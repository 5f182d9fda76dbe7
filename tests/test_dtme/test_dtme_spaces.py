import numpy as np
import pytest
import torch

from mmdtme.dtme import range_variance_from_r, split_token_space


def _random_covariance(C: int, rank: int, seed: int = 0) -> torch.Tensor:
    x = torch.randn(50, rank, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    mix = torch.randn(rank, C, generator=torch.Generator().manual_seed(seed + 1), dtype=torch.float64)
    tokens = x @ mix  # (M, C) of rank `rank`
    return tokens.T @ tokens / tokens.shape[0]


def test_split_matches_numpy_eigh():
    cov = _random_covariance(6, 6)
    spaces = split_token_space(cov, range_variance=0.9)
    values, vectors = np.linalg.eigh(cov.numpy())
    np.testing.assert_allclose(spaces.eigenvalues.numpy(), values[::-1], rtol=1e-10, atol=1e-12)
    for i in range(6):  # eigenvectors up to sign
        dot = abs(float(spaces.eigenvectors[:, i] @ torch.from_numpy(vectors[:, 5 - i])))
        assert dot == pytest.approx(1.0, abs=1e-8)
    ratio = np.cumsum(values[::-1]) / values.sum()
    assert spaces.k == int(np.argmax(ratio >= 0.9)) + 1
    assert spaces.explained_variance == pytest.approx(ratio[spaces.k - 1])


def test_k_at_the_exact_variance_boundary():
    cov = torch.diag(torch.tensor([1.0, 3.0], dtype=torch.float64))  # sorted: [3, 1], ratio [0.75, 1]
    assert split_token_space(cov, 0.75).k == 1
    assert split_token_space(cov, 0.7500001).k == 2
    cov = torch.diag(torch.tensor([0.5, 0.2, 0.2, 0.1], dtype=torch.float64))  # ratio [0.5, 0.7, 0.9, 1.0]
    assert [split_token_space(cov, tau).k for tau in (0.5, 0.7, 0.9, 0.95, 1.0)] == [1, 2, 3, 4, 4]
    assert split_token_space(cov, 0.01).k == 1
    cov = torch.diag(torch.tensor([0.1, 0.9, 0.2], dtype=torch.float64))  # 0.9 / 1.2 rounds to 0.7499999999999999
    assert split_token_space(cov, 0.75).k == 1


def test_full_variance_gives_the_rank():
    spaces = split_token_space(_random_covariance(8, 3), range_variance=1.0)
    assert spaces.k == 3
    assert (spaces.eigenvalues >= 0).all()
    assert spaces.eigenvalues[0] >= spaces.eigenvalues[1] >= spaces.eigenvalues[-1]


def test_bases_are_orthonormal_and_complementary():
    spaces = split_token_space(_random_covariance(7, 7, seed=3), range_variance=0.8)
    U_r, U_n = spaces.range_basis, spaces.null_basis
    assert U_r.shape == (7, spaces.k) and U_n.shape == (7, 7 - spaces.k)
    assert 1 <= spaces.k < 7
    eye = torch.eye(7, dtype=torch.float64)
    torch.testing.assert_close(U_r.T @ U_r, eye[:spaces.k, :spaces.k])
    torch.testing.assert_close(U_n.T @ U_n, eye[spaces.k:, spaces.k:])
    torch.testing.assert_close(U_r.T @ U_n, torch.zeros(spaces.k, 7 - spaces.k, dtype=torch.float64))
    torch.testing.assert_close(U_r @ U_r.T + U_n @ U_n.T, eye)


def test_split_errors():
    cov = torch.eye(3)
    for tau in (0.0, -0.1, 1.5):
        with pytest.raises(ValueError, match=f'range_variance must be in \\(0, 1\\], got {tau}'):
            split_token_space(cov, tau)
    with pytest.raises(ValueError, match='covariance is zero'):
        split_token_space(torch.zeros(3, 3))
    with pytest.raises(ValueError, match=r'square.*\(3, 2\)'):
        split_token_space(torch.zeros(3, 2))


def test_the_papers_r_maps_to_the_share_kept_in_the_range_space():
    # range : null = r : 1, so the range space keeps r / (1 + r) of the trace
    assert [range_variance_from_r(r)
            for r in (1, 10, 100, 500, 1000)] == pytest.approx([0.5, 0.9090909, 0.9900990, 0.9980040, 0.9990010])
    # on a spectrum of 100, 1, 1e-4: r = 10 keeps only the first eigenvalue (100 / 101.0001 >= 10 / 11)
    covariance = torch.diag(torch.tensor([100.0, 1.0, 1e-4], dtype=torch.float64))
    assert split_token_space(covariance, range_variance_from_r(10)).k == 1
    assert split_token_space(covariance, range_variance_from_r(1000)).k == 2
    with pytest.raises(ValueError, match='must be > 0'):
        range_variance_from_r(0)
