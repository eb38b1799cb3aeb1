"""The predictive model's estimators against the published CDNOW fits, and its guardrails.

CDNOW: the 2,357-customer sample of Fader, Hardie & Lee (2005), calibration 1997-01-01 .. 1997-09-30 (39 weeks),
holdout the next 39 weeks (1997-10-01 .. 1998-06-30).
"""

from datetime import date
from pathlib import Path

import numpy as np
import pytest
from scipy.optimize import check_grad
from scipy.special import hyp2f1

from segmentation.predictive import model
from segmentation.predictive.model import (
    BgNbdParams,
    FitError,
    GammaGammaParams,
    InsufficientHistory,
    Summary,
)

CDNOW = Path(__file__).parents[1] / "data" / "cdnow_sample.txt"
CALIBRATION_END = date(1997, 9, 30)
HOLDOUT_WEEKS = 39
PAPER = BgNbdParams(r=0.243, alpha=4.414, a=0.793, b=2.426)


@pytest.fixture(scope="module")
def transactions() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(customer id, date, dollar value) per CDNOW transaction."""
    rows = np.loadtxt(CDNOW, dtype=str)
    days = np.array([f"{d[:4]}-{d[4:6]}-{d[6:]}" for d in rows[:, 2]], dtype="datetime64[D]")
    return rows[:, 0], days, rows[:, 4].astype(float)


@pytest.fixture(scope="module")
def cdnow(transactions: tuple[np.ndarray, np.ndarray, np.ndarray]) -> Summary:
    return model.summarise(*transactions, CALIBRATION_END)


@pytest.fixture(scope="module")
def holdout_purchases(transactions: tuple[np.ndarray, np.ndarray, np.ndarray], cdnow: Summary) -> np.ndarray:
    """Purchase days per customer (same-day orders merged) in the 39 weeks after calibration, in summary order."""
    customers, days, _ = transactions
    end = np.datetime64(CALIBRATION_END)
    in_holdout = (days > end) & (days <= end + 7 * HOLDOUT_WEEKS)
    customer_days = np.unique(np.stack([customers[in_holdout], days[in_holdout].astype(str)]), axis=1)
    ids, counts = np.unique(customer_days[0], return_counts=True)
    purchases = np.zeros(cdnow.customer_ids.size)
    purchases[np.searchsorted(cdnow.customer_ids, ids)] = counts
    return purchases


def simulate_bgnbd(n: int, params: BgNbdParams, seed: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Histories drawn from the BG/NBD process itself, first purchases spread over 78 weeks."""
    rng = np.random.default_rng(seed)
    age = rng.uniform(10, 78, n)
    rate = rng.gamma(params.r, 1 / params.alpha, n)
    drop_out = rng.beta(params.a, params.b, n)
    arrivals = rng.poisson(rate * age)
    frequency = np.minimum(arrivals, rng.geometric(drop_out))  # inactive right after that repeat purchase
    recency = np.zeros(n)
    repeat = frequency > 0
    # The k-th of N uniform arrival times over (0, T] is T * Beta(k, N - k + 1).
    recency[repeat] = age[repeat] * rng.beta(frequency[repeat], arrivals[repeat] - frequency[repeat] + 1)
    return frequency.astype(float), recency, age


# --- Summary --------------------------------------------------------------------------------------------------


def test_cdnow_summary_matches_the_papers_calibration_data(cdnow: Summary) -> None:
    assert cdnow.customer_ids.size == 2357
    assert (cdnow.frequency > 0).sum() == 946  # the 946 repeat buyers of the Gamma-Gamma note
    # Derived from the sample, not quoted: repeat purchase days in the calibration period.
    assert cdnow.frequency.sum() == 2457
    first = cdnow.customer_ids == "00004"  # the paper's example customer: x = 2, t_x = 30.43, T = 38.86
    assert cdnow.frequency[first] == 2
    assert cdnow.recency[first] == pytest.approx(30.43, abs=5e-3)
    assert cdnow.age[first] == pytest.approx(38.86, abs=5e-3)
    assert cdnow.monetary[first] == pytest.approx((29.73 + 14.96) / 2)


def test_summary_merges_same_day_orders_and_ignores_later_customers() -> None:
    customers = ["a", "a", "a", "a", "b", "c"]
    days = ["2024-01-01", "2024-01-08", "2024-01-08", "2024-02-01", "2024-01-29", "2024-03-01"]
    amounts = [10.0, 5.0, 15.0, 99.0, 7.0, 1.0]
    summary = model.summarise(customers, days, amounts, date(2024, 1, 29))
    assert list(summary.customer_ids) == ["a", "b"]  # c first bought after the end
    assert list(summary.frequency) == [1, 0]  # a's two orders on 8 January are one purchase; 1 February is later
    assert list(summary.recency) == [1, 0]
    assert list(summary.age) == [4, 0]
    assert list(summary.monetary) == [20.0, 0.0]


# --- BG/NBD ---------------------------------------------------------------------------------------------------


def test_bgnbd_fit_reproduces_the_published_cdnow_estimates(cdnow: Summary) -> None:
    fit = model.fit_bgnbd(cdnow.frequency, cdnow.recency, cdnow.age)
    assert fit.params.r == pytest.approx(0.243, abs=1e-3)
    assert fit.params.alpha == pytest.approx(4.414, abs=1e-3)
    assert fit.params.a == pytest.approx(0.793, abs=1e-3)
    assert fit.params.b == pytest.approx(2.426, abs=1e-3)
    assert fit.log_likelihood == pytest.approx(-9582.4, abs=0.05)
    assert fit.n_customers == 2357
    assert fit.converged


def test_expected_purchases_of_the_papers_example_customer(cdnow: Summary) -> None:
    fit = model.fit_bgnbd(cdnow.frequency, cdnow.recency, cdnow.age)
    for params in (PAPER, fit.params):
        expected = model.expected_purchases(params, [2], [30.43], [38.86], HOLDOUT_WEEKS)
        assert expected[0] == pytest.approx(1.226, abs=1e-3)


def test_holdout_forecast_against_what_cdnow_customers_bought(cdnow: Summary, holdout_purchases: np.ndarray) -> None:
    # Totals derived from this sample, not quoted from the paper (whose holdout total we could not confirm):
    # 1,882 repeat purchase days in the holdout; the model expects about 1,653 (12% fewer) conditionally on each
    # customer's history and about 1,667 from the cohort's entry dates alone.
    fit = model.fit_bgnbd(cdnow.frequency, cdnow.recency, cdnow.age)
    actual = holdout_purchases.sum()
    conditional = model.expected_purchases(fit.params, cdnow.frequency, cdnow.recency, cdnow.age, HOLDOUT_WEEKS)
    unconditional = model.expected_purchases_new_customer(fit.params, cdnow.age + HOLDOUT_WEEKS)
    unconditional -= model.expected_purchases_new_customer(fit.params, cdnow.age)
    assert actual == 1882
    assert conditional.sum() == pytest.approx(1653, rel=1e-2)
    assert conditional.sum() == pytest.approx(actual, rel=0.15)
    assert unconditional.sum() == pytest.approx(conditional.sum(), rel=0.02)
    # Within the calibration period the model accounts for the purchases it was fitted on.
    assert model.expected_purchases_new_customer(fit.params, cdnow.age).sum() == pytest.approx(2457, rel=0.02)
    # Customers who bought more in calibration are expected to, and did, buy more in the holdout.
    heavy = cdnow.frequency >= 3
    assert conditional[heavy].mean() > 3 * conditional[~heavy].mean()
    assert holdout_purchases[heavy].mean() > 3 * holdout_purchases[~heavy].mean()


def test_expectations_match_the_papers_formulas_and_stay_finite() -> None:
    r, alpha, a, b = PAPER.r, PAPER.alpha, PAPER.a, PAPER.b
    t = np.array([1.0, 10.0, 39.0, 78.0])
    eq7 = (a + b - 1) / (a - 1) * (1 - (alpha / (alpha + t)) ** r * hyp2f1(r, b, a + b - 1, t / (alpha + t)))
    assert model.expected_purchases_new_customer(PAPER, t) == pytest.approx(eq7, rel=1e-9)

    x, t_x, age = np.array([0.0, 1, 2, 5, 20]), np.array([0.0, 5, 30.43, 20, 35]), np.full(5, 38.86)
    z = 39 / (alpha + age + 39)
    tail = ((alpha + age) / (alpha + age + 39)) ** (r + x) * hyp2f1(r + x, b + x, a + b + x - 1, z)
    odds = (x > 0) * a / (b + x - 1) * ((alpha + age) / (alpha + t_x)) ** (r + x)
    eq10 = (a + b + x - 1) / (a - 1) * (1 - tail) / (1 + odds)
    assert model.expected_purchases(PAPER, x, t_x, age, 39) == pytest.approx(eq10, rel=1e-9)

    # Where the untransformed 2F1 overflows: very frequent buyers, recently active or long gone.
    many = model.expected_purchases(PAPER, [500, 5000, 5000], [38.0, 38.8, 1.0], [38.86] * 3, 39)
    assert np.isfinite(many).all()
    assert many[1] > many[0] > 0
    assert many[2] == pytest.approx(0, abs=1e-12)
    # a = 1 exactly divides 0 by 0 in the closed form; the limit is finite and continuous.
    near_one = [model.expected_purchases_new_customer(BgNbdParams(r, alpha, a_, b), 39.0) for a_ in (0.999, 1, 1.001)]
    assert near_one[1] == pytest.approx((near_one[0] + near_one[2]) / 2, rel=1e-3)


def test_probability_alive(cdnow: Summary) -> None:
    alive = model.probability_alive(PAPER, cdnow.frequency, cdnow.recency, cdnow.age)
    assert ((alive > 0) & (alive <= 1)).all()
    assert (alive[cdnow.frequency == 0] == 1).all()  # in BG/NBD nobody drops out before a repeat purchase
    recent, lapsed = model.probability_alive(PAPER, [5, 5], [38.0, 10.0], [38.86, 38.86])
    assert recent > 0.8 > 0.1 > lapsed


def test_fast_likelihood_equals_the_per_customer_formula_with_exact_gradient(cdnow: Summary) -> None:
    rows = np.ones(cdnow.frequency.size)
    objective = model._BgNbdObjective(cdnow.frequency, cdnow.recency, cdnow.age, rows)
    log_params = np.log([0.3, 5.0, 0.7, 2.0])
    direct = model.bgnbd_log_likelihood(BgNbdParams(*np.exp(log_params)), cdnow.frequency, cdnow.recency, cdnow.age)
    assert objective(log_params)[0] * objective.n == pytest.approx(-direct.sum(), rel=1e-12)
    assert check_grad(lambda v: objective(v)[0], lambda v: objective(v)[1], log_params) < 1e-6


def test_grouped_rows_with_weights_fit_like_the_customers_themselves(cdnow: Summary) -> None:
    # The service may send one row per distinct history with a count, as SQL's GROUP BY gives it.
    rows = np.stack([cdnow.frequency, cdnow.recency, cdnow.age], axis=1)
    distinct, counts = np.unique(rows, axis=0, return_counts=True)
    assert len(distinct) < len(rows)
    grouped = model.fit_bgnbd(*distinct.T, weights=counts)
    each = model.fit_bgnbd(cdnow.frequency, cdnow.recency, cdnow.age)
    assert grouped.n_customers == 2357
    assert grouped.log_likelihood == pytest.approx(each.log_likelihood, abs=1e-6)
    assert grouped.params.r == pytest.approx(each.params.r, rel=1e-5)
    assert grouped.params.b == pytest.approx(each.params.b, rel=1e-5)


def test_fit_on_200000_synthetic_customers_recovers_the_parameters() -> None:
    truth = BgNbdParams(r=0.5, alpha=3.0, a=0.8, b=4.0)
    fit = model.fit_bgnbd(*simulate_bgnbd(200_000, truth))
    assert fit.converged
    assert fit.n_customers == 200_000
    for name in ("r", "alpha", "a", "b"):
        assert getattr(fit.params, name) == pytest.approx(getattr(truth, name), rel=0.1), name


# --- Gamma-Gamma ----------------------------------------------------------------------------------------------


def test_gamma_gamma_fit_reproduces_the_published_cdnow_estimates(cdnow: Summary) -> None:
    # Fader & Hardie, "The Gamma-Gamma model of monetary value": p = 6.25, q = 3.74, gamma = 15.44 on the 946
    # repeat buyers' mean repeat-purchase spend in this sample's calibration period.
    fit = model.fit_gamma_gamma(cdnow.frequency, cdnow.monetary)
    assert fit.params.p == pytest.approx(6.25, abs=5e-3)
    assert fit.params.q == pytest.approx(3.74, abs=5e-3)
    assert fit.params.gamma == pytest.approx(15.44, abs=5e-3)
    assert fit.n_customers == 946
    assert fit.converged
    assert np.isfinite(fit.log_likelihood)


def test_gamma_gamma_does_not_depend_on_the_currency_unit(cdnow: Summary) -> None:
    dollars = model.fit_gamma_gamma(cdnow.frequency, cdnow.monetary)
    cents = model.fit_gamma_gamma(cdnow.frequency, cdnow.monetary * 100)
    assert cents.params.p == pytest.approx(dollars.params.p, rel=1e-6)
    assert cents.params.q == pytest.approx(dollars.params.q, rel=1e-6)
    assert cents.params.gamma == pytest.approx(dollars.params.gamma * 100, rel=1e-6)
    assert cents.log_likelihood == pytest.approx(dollars.log_likelihood - 946 * np.log(100), rel=1e-9)


def test_gamma_gamma_likelihood_matches_the_per_customer_formula(cdnow: Summary) -> None:
    fit = model.fit_gamma_gamma(cdnow.frequency, cdnow.monetary)
    per_customer = model.gamma_gamma_log_likelihood(fit.params, cdnow.frequency, cdnow.monetary)
    assert per_customer.size == 946
    assert per_customer.sum() == pytest.approx(fit.log_likelihood, rel=1e-9)


def test_expected_spend_shrinks_towards_the_population_mean(cdnow: Summary) -> None:
    params = model.fit_gamma_gamma(cdnow.frequency, cdnow.monetary).params
    population = params.population_mean
    # lifetimes' README reports 35.170981 for customers without repeat purchases on the same data.
    assert population == pytest.approx(35.17, abs=0.01)
    assert model.expected_spend(params, [0], [0.0])[0] == pytest.approx(population)
    # A customer's own mean m counts with weight p x / (p x + q - 1): 70% after one purchase here, then more.
    frequency = np.array([1, 2, 5, 20, 200])
    high = model.expected_spend(params, frequency, np.full(5, 80.0))
    low = model.expected_spend(params, frequency, np.full(5, 10.0))
    assert np.all((high > population) & (high < 80))
    assert np.all((low > 10) & (low < population))
    assert np.all(np.diff(high) > 0)
    assert np.all(np.diff(low) < 0)
    weight = params.p / (params.p + params.q - 1)
    assert high[0] == pytest.approx(weight * 80 + (1 - weight) * population)
    assert high[-1] == pytest.approx(80, rel=0.01)  # 200 purchases speak for themselves


# --- CLV ------------------------------------------------------------------------------------------------------


def test_discounted_clv(cdnow: Summary) -> None:
    bgnbd = model.fit_bgnbd(cdnow.frequency, cdnow.recency, cdnow.age).params
    spend = model.fit_gamma_gamma(cdnow.frequency, cdnow.monetary).params
    history = (cdnow.frequency, cdnow.recency, cdnow.age, cdnow.monetary)
    revenue = model.expected_revenue(bgnbd, spend, *history, 52)
    undiscounted = model.discounted_clv(bgnbd, spend, *history, horizon_weeks=52, margin=0.3, annual_discount_rate=0)
    assert undiscounted == pytest.approx(0.3 * revenue, rel=1e-9)

    clv = model.discounted_clv(bgnbd, spend, *history, horizon_weeks=52, margin=0.3, annual_discount_rate=0.1)
    assert (clv > 0).all()
    assert (clv < undiscounted).all()
    # Within one year, a 10% annual rate takes off less than 10%.
    assert (clv > undiscounted / 1.1).all()
    longer = model.discounted_clv(bgnbd, spend, *history, horizon_weeks=130, margin=0.3, annual_discount_rate=0.1)
    assert (longer > clv).all()
    weekly = model.discounted_clv(
        bgnbd, spend, *history, horizon_weeks=52, margin=0.3, annual_discount_rate=0.1, period_weeks=1
    )
    assert weekly == pytest.approx(clv, rel=0.01)


# --- Guardrails -----------------------------------------------------------------------------------------------


def test_too_few_repeat_buyers_is_insufficient_history(cdnow: Summary) -> None:
    few = np.flatnonzero(cdnow.frequency > 0)[:150]
    few = np.concatenate([few, np.flatnonzero(cdnow.frequency == 0)])
    with pytest.raises(InsufficientHistory, match="Only 150 customers bought more than once"):
        model.fit_bgnbd(cdnow.frequency[few], cdnow.recency[few], cdnow.age[few])
    with pytest.raises(InsufficientHistory, match="Only 150 customers"):
        model.fit_gamma_gamma(cdnow.frequency[few], cdnow.monetary[few])


def test_too_short_a_history_is_insufficient_history() -> None:
    frequency, recency, age = simulate_bgnbd(5000, PAPER)
    ten_weeks = 10 / 78
    with pytest.raises(InsufficientHistory, match="covers 70 days; the model needs at least 90"):
        model.fit_bgnbd(frequency, recency * ten_weeks, age * ten_weeks)


def test_degenerate_data_is_a_fit_error_not_a_number() -> None:
    same_history = np.full(500, 3.0), np.full(500, 20.0), np.full(500, 39.0)
    with pytest.raises(FitError, match="do not identify the model"):
        model.fit_bgnbd(*same_history)
    with pytest.raises(FitError, match="do not identify the model"):
        model.fit_gamma_gamma(np.full(500, 2.0), np.full(500, 25.0))


def test_a_non_finite_estimate_is_never_returned(cdnow: Summary, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(model, "_minimise", lambda objective, start: (np.full(start.size, np.nan), False))
    with pytest.raises(FitError, match="non-finite"):
        model.fit_bgnbd(cdnow.frequency, cdnow.recency, cdnow.age)
    with pytest.raises(FitError, match="non-finite"):
        model.fit_gamma_gamma(cdnow.frequency, cdnow.monetary)


def test_predictions_refuse_parameters_that_give_no_finite_answer() -> None:
    with pytest.raises(FitError, match="expected spend is not finite"):
        model.expected_spend(GammaGammaParams(p=1.0, q=1.0, gamma=10.0), [0], [0.0])


@pytest.mark.parametrize(
    ("frequency", "recency", "age"),
    [([1.5], [1.0], [2.0]), ([1], [3.0], [2.0]), ([0], [1.0], [2.0]), ([1], [np.nan], [2.0]), ([-1], [0.0], [2.0])],
    ids=["fractional x", "recency after age", "recency without repeat", "NaN", "negative x"],
)
def test_invalid_histories_are_rejected(frequency: list[float], recency: list[float], age: list[float]) -> None:
    with pytest.raises(ValueError, match=r"frequency|recency"):
        model.probability_alive(PAPER, frequency, recency, age)


def test_spend_must_be_positive_for_repeat_buyers() -> None:
    with pytest.raises(ValueError, match="monetary must be positive"):
        model.fit_gamma_gamma([1, 2], [10.0, 0.0])
