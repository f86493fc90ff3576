#!/usr/bin/env python3
"""make_quant_fixtures.py: the oracle of the 8-bit roundings of host/shared/quant_scheme.h, written to
tests/fixtures/quant_rounding.h5 (read by tests/unit/test_quant.c, which compares exactly).

E4M3 (fp8): ml_dtypes' float8_e4m3fn (the OCP "e4m3fn" format: bias 7, 3 mantissa bits, largest
448, subnormals down to 2^-9, no infinities), converted from float32 with its round-to-nearest-even.
ml_dtypes turns values past 464 into NaN (the format has no infinity); quant_scheme.h saturates instead
(CUDA's __NV_SATFINITE), so the expected value is ml_dtypes' conversion of clip(x, -448, 448): the
clip is that saturation, the rounding is ml_dtypes'. NaN stays NaN.

int8: numpy's rint (round half to even) of the float32 value, clipped to [-127, 127]; NaN stays NaN.

Inputs (float32), both formats:
  e4m3/x, e4m3/q   every one of the 256 codes' values (NaN codes included); every midpoint between
                   two neighbouring values (the ties) and the float32 values just above and below
                   it, both signs; the saturation region (448 .. 1e38, inf); subnormal and
                   fp32-denormal inputs; zeros; 4096 log-uniform random values of both signs
  int8/x, int8/q   every integer and half-integer in [-140, 140] with their float32 neighbours,
                   values past +-127, inf, NaN, 4096 random values in [-200, 200]

Usage (pins ml_dtypes 0.5.4):
  python3 -m venv /tmp/quant-venv && /tmp/quant-venv/bin/pip install ml_dtypes==0.5.4 h5py
  /tmp/quant-venv/bin/python tools/make_quant_fixtures.py
"""
import os

import h5py
import ml_dtypes
import numpy as np

F32 = np.float32
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "quant_rounding.h5")


def neighbours(v):
    """v with the float32 values just below and above each element."""
    v = np.asarray(v, F32)
    return np.concatenate([v, np.nextafter(v, F32(-np.inf)), np.nextafter(v, F32(np.inf))])


def e4m3_inputs():
    codes = np.arange(256, dtype=np.uint8).view(ml_dtypes.float8_e4m3fn).astype(F32)
    finite = np.unique(np.abs(codes[np.isfinite(codes)]))          # 0 .. 448, ascending
    mids = (finite[:-1].astype(np.float64) + finite[1:]) / 2          # exact: 5 significant bits
    assert np.all(mids.astype(F32) == mids)
    sat = np.array([448, 449, 456, 463.99, 464, 464.01, 465, 479, 480, 481, 500, 1e4, 1e30,
                    np.finfo(F32).max, np.inf], F32)
    tiny = np.array([2.0 ** -9, 2.0 ** -10, 3 * 2.0 ** -10, 5 * 2.0 ** -10, 2.0 ** -11, 2.0 ** -6,
                     2.0 ** -7, 1e-30, 1e-40, 1e-45, 0.0], F32)          # 1e-40, 1e-45: fp32 denormals
    rng = np.random.default_rng(13)
    rand = np.exp(rng.uniform(np.log(1e-5), np.log(1e3), 4096)).astype(F32)
    pos = np.concatenate([codes[np.isfinite(codes)], neighbours(mids), neighbours(sat[:-1]), sat[-1:],
                          neighbours(tiny), rand])
    return np.concatenate([pos, -pos, codes[~np.isfinite(codes)], np.array([np.nan, -0.0], F32)]).astype(F32)


def e4m3_expected(x):
    clipped = np.clip(x, F32(-448), F32(448))        # quant_scheme.h saturates (NaN passes through clip)
    return clipped.astype(ml_dtypes.float8_e4m3fn).astype(F32)


def int8_inputs():
    k = np.arange(-140, 141, dtype=np.float64)
    ints_halves = np.concatenate([k, k + 0.5]).astype(F32)
    rng = np.random.default_rng(14)
    big = np.array([127.4999, 127.5, 128, 200, 1e10, np.inf], F32)
    x = np.concatenate([neighbours(ints_halves), big, -big, rng.uniform(-200, 200, 4096).astype(F32),
                        np.array([np.nan, 0.0, -0.0, 1e-30, -1e-30], F32)])
    return x.astype(F32)


def int8_expected(x):
    with np.errstate(invalid="ignore"):
        return np.clip(np.rint(x), F32(-127), F32(127)).astype(F32)


def main():
    with h5py.File(OUT, "w") as f:
        f.attrs["generator"] = "tools/make_quant_fixtures.py"
        f.attrs["ml_dtypes"] = ml_dtypes.__version__
        f.attrs["numpy"] = np.__version__
        for name, xs, fn in (("e4m3", e4m3_inputs(), e4m3_expected), ("int8", int8_inputs(), int8_expected)):
            q = fn(xs)
            f.create_dataset(f"{name}/x", data=xs)
            f.create_dataset(f"{name}/q", data=q)
            print(f"{name}: {xs.size} values, {int(np.isnan(q).sum())} NaN")
    print("wrote", os.path.normpath(OUT))


if __name__ == "__main__":
    main()
