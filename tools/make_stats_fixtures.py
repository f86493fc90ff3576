#!/usr/bin/env python3
"""make_stats_fixtures.py: tests/fixtures/stats.h5, the oracle of host/report/stats.c (tests/unit/test_stats.c):
bootstrap BCa intervals of means from scipy.stats.bootstrap and Wilcoxon signed-rank p-values from
scipy.stats.wilcoxon, on the resample indices polycam-eval draws (host/report/stats.h), drawn here through
tools/philox.py.

Environment (pinned):
    python3 -m venv /tmp/svenv
    /tmp/svenv/bin/pip install numpy==2.1.3 scipy==1.14.1 h5py==3.12.1
    /tmp/svenv/bin/python tools/make_stats_fixtures.py tests/fixtures/stats.h5

Index rule (host/report/stats.h): resample r of n items takes the Philox words of stream (seed, image
0xFFFFFFFE, sample (7 << 16) | r) in element order; word w gives m = w * n (64 bits), rejected when
m mod 2**32 < 2**32 mod n, else index m >> 32; the first n accepted words are the resample.

The bootstrap distribution (theta*_r = the resample's values summed in draw order with
numpy.cumsum, sequential like the C loop, divided by n) is handed to scipy.stats.bootstrap through
its public `bootstrap_result` argument with n_resamples=0, so scipy computes the BCa interval
(z0, the jackknife acceleration, the percentiles) itself from exactly those resamples. The
statistic given to scipy is the same sequential mean, so theta_hat and the jackknife values are
computed the same way as the resamples.

Cases (each: x, y, seed; results for the mean of x and the mean of d = x - y, and the Wilcoxon p of
x against y):
  n5          n = 5, continuous: many resamples are permutations of the sample (ties with theta_hat)
  small       n = 10, continuous, no ties or zeros: Wilcoxon 'exact'
  ties_exact  n = 30, values and differences in steps of 1/256, tied |d| but no zero: 'exact' with R+ rounded
  zeros       n = 12 (steps of 1/256), two zero differences and ties: 'approx' with the tie correction
  n60         n = 60, continuous: 'approx' (n > 50)
  n2000       n = 2000, AUC-like values: 'approx'
and `rejection`: the first 64 indices of resamples 0..3 for n = 2**30 + 1 (a quarter of the words
rejected), to check Lemire's rejection path.
"""
import os
import sys
from types import SimpleNamespace

import h5py
import numpy as np
import scipy
import scipy.stats

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import philox  # noqa: E402

STREAM = 7
IMAGE = 0xFFFFFFFE
R = 10000
LEVEL = 0.95


def draw(seed, n, r, count):
    """The first `count` indices of resample r of n items (host/report/stats.h)."""
    sample = (STREAM << 16) | r
    threshold = (1 << 32) % n
    out = np.empty(0, np.uint64)
    nwords = count + 8
    while out.size < count:
        words, _ = philox.blocks(seed, IMAGE, sample, 0, nwords)
        w = words.reshape(-1)[:nwords].astype(np.uint64)
        m = w * np.uint64(n)   # < 2**64
        ok = (m & np.uint64(0xFFFFFFFF)) >= np.uint64(threshold)
        out = (m[ok] >> np.uint64(32))
        nwords *= 2
    return out[:count].astype(np.int64)


def indices(seed, n, resamples):
    """(resamples, n) indices, vectorised over the resamples (the rejection is almost never hit)."""
    threshold = np.uint64((1 << 32) % n)
    extra = 8
    nw = n + extra
    nb = (nw + 3) // 4
    b = np.tile(np.arange(nb, dtype=np.uint64), resamples)
    rs = np.repeat(np.arange(resamples, dtype=np.uint64), nb)
    ctr = [b & philox.MASK32, b >> np.uint64(32), (np.uint64(STREAM << 16) | rs),
           np.full(b.size, IMAGE, np.uint64)]
    words = philox.philox4x32_10(ctr, (seed & 0xFFFFFFFF, (seed >> 32) & 0xFFFFFFFF))
    w = words.T.reshape(resamples, nb * 4).astype(np.uint64)
    m = w * np.uint64(n)
    ok = (m & np.uint64(0xFFFFFFFF)) >= threshold
    out = np.empty((resamples, n), np.int64)
    for r in range(resamples):
        acc = (m[r][ok[r]] >> np.uint64(32)).astype(np.int64)
        if acc.size < n:                       # a rejection ran past the extra words
            acc = draw(seed, n, r, n)
        out[r] = acc[:n]
    return out


def seqmean(x, axis=-1):
    """Mean with the values summed in order (numpy.cumsum is sequential, as the C loop)."""
    x = np.asarray(x, dtype=np.float64)
    return np.take(np.cumsum(x, axis=axis), -1, axis=axis) / x.shape[axis]


def bca(x, idx):
    """scipy's BCa interval of the mean of x over the resamples idx."""
    theta_b = seqmean(x[idx], axis=-1)
    prev = SimpleNamespace(bootstrap_distribution=theta_b)
    res = scipy.stats.bootstrap((x,), seqmean, n_resamples=0, bootstrap_result=prev, vectorized=True,
                                confidence_level=LEVEL, method='BCa')
    ci = res.confidence_interval
    return np.array([seqmean(x), ci.low, ci.high])


def cases():
    rng = np.random.default_rng(20)
    out = {}
    x = rng.uniform(0.2, 0.8, 5)
    out['n5'] = (x, x - rng.normal(0.05, 0.1, 5), 3)
    x = rng.uniform(0.2, 0.8, 10)
    out['small'] = (x, x - rng.normal(0.05, 0.1, 10), 1234)
    # multiples of 1/256: x - y is exact, so equal |d| are equal in floating point too
    x = np.round(rng.uniform(0.2, 0.8, 30) * 256) / 256
    d = rng.choice([-3, -2, -1, 1, 2, 3, 4], 30) / 256
    out['ties_exact'] = (x, x - d, 0x123456789ABCDEF0)
    x = np.round(rng.uniform(0.2, 0.8, 12) * 256) / 256
    d = np.array([0, 0, 1, 1, -1, 2, 2, 3, -2, 5, 1, 4]) / 256
    out['zeros'] = (x, x - d, 7)
    x = rng.uniform(0.2, 0.8, 60)
    out['n60'] = (x, x - rng.normal(0.01, 0.05, 60), 42)
    x = rng.beta(3, 2, 2000)
    out['n2000'] = (x, np.clip(x - rng.normal(0.02, 0.08, 2000), 0, 1), 0)
    return out


def main(path):
    with h5py.File(path, 'w') as f:
        f.attrs['numpy'] = np.__version__
        f.attrs['scipy'] = scipy.__version__
        f.attrs['resamples'] = R
        f.attrs['level'] = LEVEL
        for name, (x, y, seed) in cases().items():
            n = x.size
            d = x - y
            idx = indices(seed, n, R)
            g = f.create_group(name)
            g['seed'] = np.array([seed], np.int64)
            g['x'] = x
            g['y'] = y
            g['ci_x'] = bca(x, idx)           # mean, lo, hi
            g['ci_d'] = bca(d, idx)
            w = scipy.stats.wilcoxon(x, y)
            g['wilcoxon_p'] = np.array([w.pvalue], np.float64)
            exact = n <= 50 and not np.any(d == 0)
            g.attrs['wilcoxon_method'] = 'exact' if exact else 'approx'
            g['first_indices'] = idx[:4].astype(np.int32)
            g.create_dataset('index_sums', data=idx.sum(axis=1).astype(np.int64), compression='gzip')
            print('%-10s n=%4d seed=%d ci_x=%s ci_d=%s p=%.10g (%s)' % (
                name, n, seed, g['ci_x'][()], g['ci_d'][()], w.pvalue, g.attrs['wilcoxon_method']))
        n = (1 << 30) + 1
        g = f.create_group('rejection')
        g['n'] = np.array([n], np.int64)
        g['seed'] = np.array([99], np.int64)
        g['indices'] = np.stack([draw(99, n, r, 64) for r in range(4)]).astype(np.int64)


if __name__ == '__main__':
    main(sys.argv[1] if len(sys.argv) > 1 else 'tests/fixtures/stats.h5')
