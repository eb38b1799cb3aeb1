"""Maximum-likelihood core of the predictive model: BG/NBD for the number of purchases, Gamma-Gamma for the
spend per purchase, and a CLV that combines them. Plain numpy arrays in and out; no database, no HTTP.

Conventions (those of the papers):
- A customer's history is summarised by x = repeat purchases (days with a purchase after the first, so several
  orders on one day count once), t_x = weeks from the first to the last purchase, T = weeks from the first
  purchase to the end of the calibration period, and the mean spend per repeat purchase (Gamma-Gamma).
- Fits take these arrays, optionally with `weights` (how many customers share a row), so the service can
  GROUP BY in SQL and hand over one row per distinct history.
- Fits work on log-parameters with analytic gradients. Every special function of the likelihood depends on a
  customer only through x, an integer, so it is computed once per distinct x and looked up: one evaluation
  costs a handful of array passes, which keeps a million customers within seconds.

References: Fader, Hardie & Lee (2005), "Counting your customers the easy way: an alternative to the
Pareto/NBD model", Marketing Science 24(2); Fader, Hardie & Lee (2005), "RFM and CLV: using iso-value curves
for customer base analysis", JMR 42(4); Fader & Hardie (2013), "The Gamma-Gamma model of monetary value".
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import minimize
from scipy.special import betaln, digamma, expit, gammaln, hyp2f1

DAYS_PER_WEEK = 7.0
WEEKS_PER_YEAR = 365.25 / DAYS_PER_WEEK
WEEKS_PER_MONTH = WEEKS_PER_YEAR / 12

MIN_REPEAT_CUSTOMERS = 200
MIN_HISTORY_DAYS = 90

# The optimiser searches log-parameters in [-LOG_BOUND, LOG_BOUND]. An estimate beyond 1e-6 .. 1e6 means the
# likelihood keeps rising (or stays flat) as a parameter runs off to 0 or infinity, e.g. when every customer
# spends the same: the data do not identify the model, and we say so instead of returning such a "fit".
LOG_BOUND = 18.0
LOG_IDENTIFIED = math.log(1e6)

Array = NDArray[np.float64]


class PredictiveModelError(Exception):
    """The model cannot give figures for these data."""


class InsufficientHistory(PredictiveModelError):
    """Too few customers or too short a history to estimate the model."""


class FitError(PredictiveModelError):
    """The estimation or a prediction did not produce finite, identified figures."""


# --- Summary ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Summary:
    """One entry per customer, in the order of `customer_ids`. Times in weeks; `monetary` is 0 where x = 0."""

    customer_ids: NDArray[np.generic]
    frequency: Array
    recency: Array
    age: Array
    monetary: Array


def summarise(
    customer_ids: ArrayLike, dates: ArrayLike, amounts: ArrayLike, calibration_end: date | np.datetime64
) -> Summary:
    """Summarise (customer, date, amount) transactions up to and including `calibration_end`.

    Purchases on the same day are one purchase (their amounts summed): the model counts purchase occasions, and
    an order split in two by the shop is not a second visit. Customers who first buy after the end are left out.
    """
    end = np.datetime64(calibration_end, "D")
    customers = np.asarray(customer_ids)
    days = np.asarray(dates, dtype="datetime64[D]")
    values = np.asarray(amounts, dtype=np.float64)
    if not (customers.shape == days.shape == values.shape) or customers.ndim != 1:
        raise ValueError("customer_ids, dates and amounts must be 1-D arrays of the same length")
    keep = days <= end
    customers, days, values = customers[keep], days[keep], values[keep]
    if customers.size == 0:
        empty = np.empty(0)
        return Summary(customers, empty, empty.copy(), empty.copy(), empty.copy())

    order = np.lexsort((days, customers))
    customers, days, values = customers[order], days[order], values[order]

    new_day = np.ones(customers.size, dtype=bool)
    new_day[1:] = (customers[1:] != customers[:-1]) | (days[1:] != days[:-1])
    day_starts = np.flatnonzero(new_day)
    day_customers, day_dates = customers[day_starts], days[day_starts]
    day_amounts = np.add.reduceat(values, day_starts)

    new_customer = np.ones(day_customers.size, dtype=bool)
    new_customer[1:] = day_customers[1:] != day_customers[:-1]
    starts = np.flatnonzero(new_customer)
    ends = np.append(starts[1:], day_customers.size) - 1

    frequency = (ends - starts).astype(np.float64)
    first, last = day_dates[starts], day_dates[ends]
    repeat_spend = np.add.reduceat(day_amounts, starts) - day_amounts[starts]
    monetary = np.divide(repeat_spend, frequency, out=np.zeros_like(repeat_spend), where=frequency > 0)
    return Summary(
        customer_ids=day_customers[starts],
        frequency=frequency,
        recency=(last - first).astype(np.float64) / DAYS_PER_WEEK,
        age=(end - first).astype(np.float64) / DAYS_PER_WEEK,
        monetary=monetary,
    )


# --- Input checks ---------------------------------------------------------------------------------------------


def _history(frequency: ArrayLike, recency: ArrayLike, age: ArrayLike) -> tuple[Array, Array, Array]:
    x, t_x, T = (np.asarray(a, dtype=np.float64) for a in (frequency, recency, age))
    if x.ndim != 1 or not (x.shape == t_x.shape == T.shape):
        raise ValueError("frequency, recency and age must be 1-D arrays of the same length")
    if not (np.isfinite(x).all() and np.isfinite(t_x).all() and np.isfinite(T).all()):
        raise ValueError("frequency, recency and age must be finite")
    if (x < 0).any() or (x != np.round(x)).any():
        raise ValueError("frequency must be a whole number of repeat purchases, 0 or more")
    if (t_x < 0).any() or (t_x > T * (1 + 1e-12) + 1e-12).any():
        raise ValueError("recency must lie between 0 and the customer's age")
    if (t_x[x == 0] != 0).any():
        raise ValueError("recency must be 0 for customers without repeat purchases")
    return x, t_x, T


def _weights(weights: ArrayLike | None, size: int) -> Array:
    if weights is None:
        return np.ones(size)
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (size,) or not np.isfinite(w).all() or (w < 0).any():
        raise ValueError("weights must be finite, non-negative and one per row")
    return w


def _check_fit(names: Sequence[str], log_params: Array, log_likelihood: float) -> None:
    if not (np.isfinite(log_params).all() and math.isfinite(log_likelihood)):
        raise FitError("The estimation produced non-finite values; the data may be degenerate.")
    for name, value in zip(names, log_params, strict=True):
        if abs(value) > LOG_IDENTIFIED:
            direction = "infinity" if value > 0 else "zero"
            raise FitError(
                f"The estimate of {name} runs off to {direction}: the data do not identify the model "
                "(too little variation between customers)."
            )


def _dot(u: Array, v: Array) -> float:
    """Sum of products over customers. einsum's own loop, not BLAS: a threaded BLAS dot on a busy machine
    costs ten times its single-threaded time, and these sums are most of a likelihood evaluation."""
    return float(np.einsum("i,i->", u, v))


def _minimise(objective: Callable[[Array], tuple[float, Array]], start: Array) -> tuple[Array, bool]:
    """L-BFGS-B on the mean negative log-likelihood, so tolerances mean the same for 2,000 or 2,000,000 rows."""
    bounds = [(-LOG_BOUND, LOG_BOUND)] * start.size
    options = {"maxiter": 2000, "ftol": 1e-13, "gtol": 1e-9}
    result = minimize(objective, start, jac=True, method="L-BFGS-B", bounds=bounds, options=options)
    if not result.success:
        # A line search that stalls at the optimum is a numerical-precision stop, not a failure: restart once.
        result = minimize(objective, result.x, jac=True, method="L-BFGS-B", bounds=bounds, options=options)
    _, gradient = objective(result.x)
    converged = bool(result.success) or bool(np.max(np.abs(gradient)) < 1e-6)
    return np.asarray(result.x, dtype=np.float64), converged


# --- BG/NBD ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BgNbdParams:
    """Purchase rates ~ Gamma(shape r, rate alpha) in purchases per week; drop-out ~ Beta(a, b)."""

    r: float
    alpha: float
    a: float
    b: float


@dataclass(frozen=True)
class BgNbdFit:
    params: BgNbdParams
    log_likelihood: float
    n_customers: int
    converged: bool


def bgnbd_log_likelihood(params: BgNbdParams, frequency: ArrayLike, recency: ArrayLike, age: ArrayLike) -> Array:
    """Each customer's log-likelihood (Fader, Hardie & Lee 2005), its two terms added in logs to avoid underflow."""
    x, t_x, T = _history(frequency, recency, age)
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    common = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    still_active = betaln(a, b + x) - betaln(a, b) - (r + x) * np.log(alpha + T)
    # Dropped out after the last purchase: only possible for customers who made a repeat purchase.
    dropped_out = np.full_like(x, -np.inf)
    repeat = x > 0
    xr = x[repeat]
    dropped_out[repeat] = betaln(a + 1, b + xr - 1) - betaln(a, b) - (r + xr) * np.log(alpha + t_x[repeat])
    return common + np.logaddexp(still_active, dropped_out)


class _BgNbdObjective:
    """Mean negative log-likelihood and its gradient in log-parameters, tables per distinct x (see module).

    Customers without repeat purchases only contribute r*log(alpha/(alpha+T)); they are grouped by T, which in
    real data takes one value per day of history, so most of the per-customer work is on the repeat buyers.
    """

    def __init__(self, x: Array, t_x: Array, T: Array, w: Array) -> None:
        self.n = float(w.sum())
        xi = x.astype(np.intp)
        self.k = np.arange(xi.max() + 1, dtype=np.float64)
        self.counts = np.bincount(xi, weights=w, minlength=self.k.size)
        zero = xi == 0
        ages, position = np.unique(T[zero], return_inverse=True)
        self.zero_T, self.zero_w = ages, np.bincount(position, weights=w[zero], minlength=ages.size)
        repeat = ~zero
        self.xi, self.x, self.t_x, self.T, self.w = xi[repeat], x[repeat], t_x[repeat], T[repeat], w[repeat]
        self.wx = self.w * self.x

    def __call__(self, log_params: Array) -> tuple[float, Array]:
        r, alpha, a, b = np.exp(log_params)
        k, counts, w, x = self.k, self.counts, self.w, self.x
        k1 = k[1:]

        # Per distinct x: terms of the likelihood and their derivatives (all 0 at x = 0).
        g = gammaln(r + k) - gammaln(r)
        dg_r = digamma(r + k) - digamma(r)
        b1 = betaln(a, b + k) - betaln(a, b)
        d_ab, d_abk = digamma(a + b), digamma(a + b + k)
        db1_a = d_ab - d_abk
        db1_b = digamma(b + k) - d_abk - digamma(b) + d_ab
        b2_minus_b1 = np.zeros_like(k)
        b2_minus_b1[1:] = betaln(a + 1, b + k1 - 1) - betaln(a, b + k1)
        db2_a = np.zeros_like(k)
        db2_b = np.zeros_like(k)
        db2_a[1:] = 1 / a - d_abk[1:] + d_ab
        db2_b[1:] = digamma(b + k1 - 1) - d_abk[1:] - digamma(b) + d_ab

        # Customers without repeat purchases.
        zero_log_at = _dot(self.zero_w, np.log(alpha + self.zero_T))
        zero_inv_at = _dot(self.zero_w, 1 / (alpha + self.zero_T))

        # Repeat buyers: only logs and ratios of the times.
        log_at = np.log(alpha + self.T)
        log_atx = np.log(alpha + self.t_x)
        gap = log_atx - log_at
        # log of (dropped-out term / active term), then its softplus and logistic without overflow.
        ratio = b2_minus_b1[self.xi] - (r + x) * gap
        small = np.exp(-np.abs(ratio))
        softplus = np.maximum(ratio, 0.0) + np.log1p(small)
        p_dropped = np.where(ratio >= 0, 1.0, small) / (1 + small)
        w_dropped = w * p_dropped
        w_log_at = _dot(w, log_at)

        log_lik = (
            counts @ (g + b1)
            + self.n * r * np.log(alpha)
            - r * (zero_log_at + w_log_at)
            - _dot(self.wx, log_at)
            + _dot(w, softplus)
        )
        dropped_by_x = np.bincount(self.xi, weights=w_dropped, minlength=k.size)
        grad_r = counts @ dg_r + self.n * np.log(alpha) - zero_log_at - w_log_at - _dot(w_dropped, gap)
        inv_at, inv_atx = 1 / (alpha + self.T), 1 / (alpha + self.t_x)
        grad_alpha = (
            self.n * r / alpha - r * zero_inv_at - _dot(r * w + self.wx, inv_at + p_dropped * (inv_atx - inv_at))
        )
        grad_a = counts @ db1_a + dropped_by_x @ (db2_a - db1_a)
        grad_b = counts @ db1_b + dropped_by_x @ (db2_b - db1_b)
        gradient = np.array([grad_r * r, grad_alpha * alpha, grad_a * a, grad_b * b])
        return -log_lik / self.n, -gradient / self.n


def fit_bgnbd(
    frequency: ArrayLike,
    recency: ArrayLike,
    age: ArrayLike,
    *,
    weights: ArrayLike | None = None,
    min_repeat_customers: int = MIN_REPEAT_CUSTOMERS,
    min_history_days: float = MIN_HISTORY_DAYS,
) -> BgNbdFit:
    """Maximum-likelihood estimate of (r, alpha, a, b).

    Raises InsufficientHistory for fewer than `min_repeat_customers` customers with a repeat purchase or a
    history shorter than `min_history_days`, and FitError if the estimate is not finite or not identified.
    """
    x, t_x, T = _history(frequency, recency, age)
    w = _weights(weights, x.size)
    repeaters = float(w[x > 0].sum())
    if repeaters < min_repeat_customers:
        raise InsufficientHistory(
            f"Only {repeaters:.0f} customers bought more than once; the model needs at least {min_repeat_customers}."
        )
    history_days = float(T.max()) * DAYS_PER_WEEK
    if history_days < min_history_days:
        raise InsufficientHistory(
            f"The order history covers {history_days:.0f} days; the model needs at least {min_history_days:.0f}."
        )

    objective = _BgNbdObjective(x, t_x, T, w)
    # Start from a population with the observed mean purchase rate and a drop-out probability of about 1/2.
    mean_rate = max(float(_dot(w, x)), 1.0) / max(float(_dot(w, T)), 1e-9)
    start = np.log([1.0, 1.0 / mean_rate, 1.0, 1.0])
    log_params, converged = _minimise(objective, start)
    log_likelihood = -objective(log_params)[0] * objective.n
    _check_fit(("r", "alpha", "a", "b"), log_params, log_likelihood)
    r, alpha, a, b = (float(v) for v in np.exp(log_params))
    return BgNbdFit(BgNbdParams(r, alpha, a, b), float(log_likelihood), round(objective.n), converged)


def _finite(values: Array, what: str) -> Array:
    if not np.isfinite(values).all():
        raise FitError(f"The {what} is not finite for {int((~np.isfinite(values)).sum())} customers.")
    return values


def _log_odds_dropped(params: BgNbdParams, x: Array, t_x: Array, T: Array) -> Array:
    """log of a/(b+x-1) * ((alpha+T)/(alpha+t_x))^(r+x): how much likelier 'dropped out' is than 'active'."""
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    log_odds = np.full_like(x, -np.inf)
    repeat = x > 0
    xr = x[repeat]
    log_odds[repeat] = (
        np.log(a) - np.log(b + xr - 1) + (r + xr) * (np.log(alpha + T[repeat]) - np.log(alpha + t_x[repeat]))
    )
    return log_odds


def probability_alive(params: BgNbdParams, frequency: ArrayLike, recency: ArrayLike, age: ArrayLike) -> Array:
    """P(still active | x, t_x, T) (Fader, Hardie & Lee 2005); 1 for customers without repeat purchases."""
    x, t_x, T = _history(frequency, recency, age)
    return _finite(expit(-_log_odds_dropped(params, x, t_x, T)), "probability alive")


def _a_away_from_one(a: float) -> float:
    # The expectations divide by (a - 1); their limit at a = 1 is smooth, so step a hair off it.
    return a if abs(a - 1) > 1e-7 else 1 + math.copysign(1e-7, a - 1)


def purchases_if_alive(params: BgNbdParams, frequency: ArrayLike, age: ArrayLike, t: float | ArrayLike) -> Array:
    """Expected purchases in the next `t` weeks of a customer known to be still active; times the probability
    alive it is `expected_purchases` (Fader, Hardie & Lee 2005, eq. 10). It depends on a customer only through
    (x, T), so the service tabulates it once per distinct pair and scores the rest in SQL.

    2F1(r+x, b+x; a+b+x-1; z) overflows for large x; Euler's transformation turns
    ((alpha+T)/(alpha+T+t))^(r+x) * 2F1(r+x, b+x; a+b+x-1; z) into (1-z)^(a-1) * 2F1(a+b-1-r, a-1; a+b+x-1; z)
    with z = t/(alpha+T+t), whose parameters stay small however many purchases a customer made.
    """
    x, T = (np.asarray(v, dtype=np.float64) for v in (frequency, age))
    horizon = np.broadcast_to(np.asarray(t, dtype=np.float64), x.shape)
    r, alpha, b = params.r, params.alpha, params.b
    a = _a_away_from_one(params.a)
    z = horizon / (alpha + T + horizon)
    hyper = (1 - z) ** (a - 1) * hyp2f1(a + b - 1 - r, a - 1, a + b + x - 1, z)
    return _finite((a + b + x - 1) / (a - 1) * (1 - hyper), "expected number of purchases")


def expected_purchases(
    params: BgNbdParams, frequency: ArrayLike, recency: ArrayLike, age: ArrayLike, t: float | ArrayLike
) -> Array:
    """Expected purchases in the next `t` weeks given the history (Fader, Hardie & Lee 2005, eq. 10)."""
    x, t_x, T = _history(frequency, recency, age)
    return purchases_if_alive(params, x, T, t) * probability_alive(params, x, t_x, T)


def expected_purchases_new_customer(params: BgNbdParams, t: float | ArrayLike) -> Array:
    """E[X(t)]: expected repeat purchases in the first `t` weeks after a first purchase (eq. 7, Euler-transformed
    as in `expected_purchases`). For a cohort, sum E[X(T_i + h)] - E[X(T_i)] to forecast a holdout of h weeks."""
    weeks = np.asarray(t, dtype=np.float64)
    r, alpha, b = params.r, params.alpha, params.b
    a = _a_away_from_one(params.a)
    z = weeks / (alpha + weeks)
    hyper = (1 - z) ** (a - 1) * hyp2f1(a + b - 1 - r, a - 1, a + b - 1, z)
    return _finite(np.asarray((a + b - 1) / (a - 1) * (1 - hyper)), "expected number of purchases")


# --- Gamma-Gamma ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GammaGammaParams:
    """Spend per purchase ~ Gamma(shape p, rate nu) with nu ~ Gamma(shape q, rate gamma) across customers."""

    p: float
    q: float
    gamma: float

    @property
    def population_mean(self) -> float:
        """Mean spend per purchase across customers: p * gamma / (q - 1)."""
        return self.p * self.gamma / (self.q - 1)


@dataclass(frozen=True)
class GammaGammaFit:
    params: GammaGammaParams
    log_likelihood: float
    n_customers: int
    converged: bool


def _spend(frequency: ArrayLike, monetary: ArrayLike) -> tuple[Array, Array]:
    x = np.asarray(frequency, dtype=np.float64)
    m = np.asarray(monetary, dtype=np.float64)
    if x.ndim != 1 or x.shape != m.shape:
        raise ValueError("frequency and monetary must be 1-D arrays of the same length")
    if not (np.isfinite(x).all() and np.isfinite(m).all()):
        raise ValueError("frequency and monetary must be finite")
    if (x < 0).any() or (x != np.round(x)).any():
        raise ValueError("frequency must be a whole number of repeat purchases, 0 or more")
    if (m[x > 0] <= 0).any():
        raise ValueError("monetary must be positive for customers with repeat purchases (filter refunds first)")
    return x, m


def gamma_gamma_log_likelihood(params: GammaGammaParams, frequency: ArrayLike, monetary: ArrayLike) -> Array:
    """Each repeat customer's log-density of their mean spend m over x purchases (Fader & Hardie 2013)."""
    x, m = _spend(frequency, monetary)
    x, m = x[x > 0], m[x > 0]
    p, q, g = params.p, params.q, params.gamma
    px = p * x
    return (
        gammaln(px + q)
        - gammaln(px)
        - gammaln(q)
        + q * np.log(g)
        + (px - 1) * np.log(m)
        + px * np.log(x)
        - (px + q) * np.log(g + m * x)
    )


class _GammaGammaObjective:
    """Mean negative log-likelihood and gradient in log-parameters; data sums that do not move are kept."""

    def __init__(self, x: Array, m: Array, w: Array) -> None:
        self.xi = x.astype(np.intp)
        self.k = np.arange(self.xi.max() + 1, dtype=np.float64)
        self.counts = np.bincount(self.xi, weights=w, minlength=self.k.size)
        self.n = float(w.sum())
        self.w, self.wx, self.total = w, w * x, m * x
        log_m = np.log(m)
        self.sum_log_m = float(_dot(w, log_m))
        self.sum_x_log_mx = float(_dot(self.wx, log_m + np.log(x)))

    def __call__(self, log_params: Array) -> tuple[float, Array]:
        p, q, g = np.exp(log_params)
        k, counts = self.k[1:], self.counts[1:]
        log_norm = gammaln(p * k + q) - gammaln(p * k) - gammaln(q)
        dlog_norm_p = k * (digamma(p * k + q) - digamma(p * k))
        dlog_norm_q = digamma(p * k + q) - digamma(q)

        log_gm = np.log(g + self.total)
        inv_gm = 1 / (g + self.total)
        sum_log_gm, sum_x_log_gm = _dot(self.w, log_gm), _dot(self.wx, log_gm)
        log_lik = (
            counts @ log_norm
            + self.n * q * np.log(g)
            + p * self.sum_x_log_mx
            - self.sum_log_m
            - p * sum_x_log_gm
            - q * sum_log_gm
        )
        grad_p = counts @ dlog_norm_p + self.sum_x_log_mx - sum_x_log_gm
        grad_q = counts @ dlog_norm_q + self.n * np.log(g) - sum_log_gm
        grad_g = self.n * q / g - _dot(p * self.wx + q * self.w, inv_gm)
        gradient = np.array([grad_p * p, grad_q * q, grad_g * g])
        return -log_lik / self.n, -gradient / self.n


def fit_gamma_gamma(
    frequency: ArrayLike,
    monetary: ArrayLike,
    *,
    weights: ArrayLike | None = None,
    min_repeat_customers: int = MIN_REPEAT_CUSTOMERS,
) -> GammaGammaFit:
    """Maximum-likelihood estimate of (p, q, gamma) on the customers with x >= 1 (the others are ignored).

    Spend is rescaled to a mean of 1 during the fit, so the estimate does not depend on the currency unit
    (cents or yen would otherwise push gamma towards the parameter bounds); gamma and the log-likelihood are
    reported in the original unit. q <= 1 (an infinite mean spend) is a FitError.
    """
    x, m = _spend(frequency, monetary)
    w = _weights(weights, x.size)
    repeat = x > 0
    x, m, w = x[repeat], m[repeat], w[repeat]
    if w.sum() < min_repeat_customers:
        raise InsufficientHistory(
            f"Only {w.sum():.0f} customers bought more than once; the spend model needs at least "
            f"{min_repeat_customers}."
        )
    scale = float(_dot(w, m) / w.sum())
    objective = _GammaGammaObjective(x, m / scale, w)
    # Start at spend that varies as much within customers as between them, with the observed mean.
    log_params, converged = _minimise(objective, np.log([1.0, 3.0, 2.0]))
    log_likelihood = -objective(log_params)[0] * objective.n - objective.n * math.log(scale)
    _check_fit(("p", "q", "gamma"), log_params, log_likelihood)
    p, q, g = (float(v) for v in np.exp(log_params))
    if q <= 1:
        raise FitError(f"The spend model's q is {q:.3f} <= 1: spend varies too much for a finite mean.")
    return GammaGammaFit(GammaGammaParams(p, q, g * scale), float(log_likelihood), round(objective.n), converged)


def expected_spend(params: GammaGammaParams, frequency: ArrayLike, monetary: ArrayLike) -> Array:
    """E[spend per purchase | x, m] = p(gamma + m x)/(p x + q - 1): a weighted average of the population mean and
    the customer's own mean m, with more weight on m the more purchases it rests on (the population mean at x = 0).
    """
    x, m = _spend(frequency, monetary)
    p, q, g = params.p, params.q, params.gamma
    with np.errstate(divide="ignore", invalid="ignore"):  # q <= 1 gives inf at x = 0; _finite reports it
        spend = p * (g + m * x) / (p * x + q - 1)
    return _finite(spend, "expected spend")


# --- Customer lifetime value ----------------------------------------------------------------------------------


def expected_revenue(
    bgnbd: BgNbdParams,
    spend: GammaGammaParams,
    frequency: ArrayLike,
    recency: ArrayLike,
    age: ArrayLike,
    monetary: ArrayLike,
    horizon_weeks: float,
) -> Array:
    """Undiscounted revenue expected in the next `horizon_weeks`: E[purchases] * E[spend per purchase]."""
    purchases = expected_purchases(bgnbd, frequency, recency, age, horizon_weeks)
    return purchases * expected_spend(spend, frequency, monetary)


def discounted_purchases_if_alive(
    params: BgNbdParams,
    frequency: ArrayLike,
    age: ArrayLike,
    *,
    horizon_weeks: float,
    annual_discount_rate: float,
    period_weeks: float = WEEKS_PER_MONTH,
) -> Array:
    """The purchases of the next `horizon_weeks` of a customer known to be alive, each period's discounted from
    its end (monthly unless told otherwise):

        sum_k (P(t_k) - P(t_(k-1))) / (1 + annual_discount_rate)^(t_k / 52.18)

    with t_k = min(k * period_weeks, horizon_weeks), t_0 = 0 and P = `purchases_if_alive`. Like it, a function
    of (x, T) alone: the CLV is this times the probability alive, the expected spend and the margin.
    """
    if horizon_weeks < 0 or period_weeks <= 0 or annual_discount_rate <= -1:
        raise ValueError("horizon_weeks must be >= 0, period_weeks > 0 and annual_discount_rate > -1")
    periods = math.ceil(horizon_weeks / period_weeks - 1e-9)
    value = np.zeros(np.shape(frequency))
    previous = np.zeros_like(value)
    for k in range(1, periods + 1):
        t_k = min(k * period_weeks, horizon_weeks)
        cumulative = purchases_if_alive(params, frequency, age, t_k)
        value += (cumulative - previous) / (1 + annual_discount_rate) ** (t_k / WEEKS_PER_YEAR)
        previous = cumulative
    return value


def discounted_clv(
    bgnbd: BgNbdParams,
    spend: GammaGammaParams,
    frequency: ArrayLike,
    recency: ArrayLike,
    age: ArrayLike,
    monetary: ArrayLike,
    *,
    horizon_weeks: float,
    margin: float,
    annual_discount_rate: float,
    period_weeks: float = WEEKS_PER_MONTH,
) -> Array:
    """Discounted margin over the next `horizon_weeks`: margin * E[spend] * P(alive) *
    `discounted_purchases_if_alive`, i.e. each period's expected purchases discounted from the period's end."""
    x, t_x, T = _history(frequency, recency, age)
    purchases = discounted_purchases_if_alive(
        bgnbd, x, T, horizon_weeks=horizon_weeks, annual_discount_rate=annual_discount_rate, period_weeks=period_weeks
    )
    alive = probability_alive(bgnbd, x, t_x, T)
    return margin * expected_spend(spend, frequency, monetary) * alive * purchases
