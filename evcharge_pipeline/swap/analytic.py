"""Analytic core of the battery-swap model.

A swap station runs a one-for-one base-stock policy: every depleted battery a rider hands in is
sent to a charging hub (one-way transport `transport_hours`), waits for a free charging port
(first come, first served), charges for `charging_hours` and is sent back (another
`transport_hours`). The station owns `S` spare batteries on top of those in the vehicles; the
batteries that are away from the station form the *pipeline* `D(t)`. A rider arriving at time `t`
gets a charged battery at once iff `D(t-) <= S - 1`, so with Poisson arrivals (PASTA)

    fill rate  =  sum_t lambda(t) P(D(t) <= S - 1) / sum_t lambda(t).

The pipeline is an infinite-server queue with time-varying arrivals: `D(t)` is Poisson with mean
`m(t) = integral of lambda(s) over the arrivals s still in the pipeline at t`, i.e. over
`[t - Delta(s), t]` with `Delta = charging + 2 x transport + expected port wait` (the battery makes a
round trip). When the arrival log is overdispersed (day-to-day rate variation), the daily rate
multiplier is modelled as Gamma(r, 1/r); `D(t)` is then negative binomial, and a rider sees the
size-biased multiplier Gamma(r + 1, 1/r), which makes the fill rate an exact NB(r + 1) quantile.

Charging ports are sized with Erlang C (M/M/c) at the peak hub arrival rate; with deterministic
charging times this over-states the wait, so it is conservative.

Everything here is vectorised over time steps (and stations/hubs where it applies).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import stats

HOURS_PER_DAY = 24.0


class SwapInputError(ValueError):
    """An invalid parameter of the swap model (names the parameter)."""

    def __init__(self, message: str, parameter: str | None = None):
        super().__init__(message)
        self.parameter = parameter


# --------------------------------------------------------------------------------------------
# parameter checks

# Largest fleet one model sizes. Measured with the single-hub CLI (2 swaps per vehicle-day): 100,000
# vehicles take 6 s and 0.5 GB, 1,000,000 take 54 s and 3.3 GB, and memory grows with the pipeline, so
# 10^9 vehicles exhausted the memory; a larger fleet is planned hub by hub.
MAX_VEHICLES = 100_000


def check_vehicles(value) -> int:
    """A whole number of vehicles in [1, MAX_VEHICLES]."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise SwapInputError(f"vehicles must be a whole number, got {value!r}", "vehicles") from None
    if not math.isfinite(number) or number != int(number) or not 1 <= number <= MAX_VEHICLES:
        raise SwapInputError(f"vehicles must be a whole number from 1 to {MAX_VEHICLES:,} (one model; plan a "
                             f"larger fleet hub by hub), got {value!r}", "vehicles")
    return int(number)


def check_hour_of_day(name: str, value) -> float:
    """An hour of the day in [0, 24)."""
    number = float(value)
    if not math.isfinite(number) or not 0 <= number < 24:
        raise SwapInputError(f"{name} must be an hour of the day in [0, 24), got {value!r}", name)
    return number


def check_positive(name: str, value: float) -> float:
    value = float(value)
    if not math.isfinite(value) or value <= 0:
        raise SwapInputError(f"{name} must be a positive number, got {value!r}", name)
    return value


def check_non_negative(name: str, value: float) -> float:
    value = float(value)
    if not math.isfinite(value) or value < 0:
        raise SwapInputError(f"{name} must be zero or positive, got {value!r}", name)
    return value


def check_probability(name: str, value: float) -> float:
    value = float(value)
    if not (0.0 < value < 1.0):
        raise SwapInputError(f"{name} must lie strictly between 0 and 1, got {value!r}", name)
    return value


# --------------------------------------------------------------------------------------------
# time grid and arrival profiles


@dataclass(frozen=True)
class TimeGrid:
    """A day cut into equal steps; rates are piecewise constant per step."""

    step_minutes: int = 10

    def __post_init__(self) -> None:
        if self.step_minutes <= 0 or 1440 % self.step_minutes:
            raise SwapInputError(f"step_minutes must divide 1440, got {self.step_minutes}")

    @property
    def steps(self) -> int:
        return 1440 // self.step_minutes

    @property
    def step_hours(self) -> float:
        return self.step_minutes / 60.0

    def hour_of_step(self) -> np.ndarray:
        return (np.arange(self.steps) * self.step_hours).astype(int)

    def from_hourly(self, hourly: np.ndarray) -> np.ndarray:
        """Expand per-clock-hour values (..., 24) to per-step values (..., steps)."""
        hourly = np.asarray(hourly, dtype=float)
        return hourly[..., self.hour_of_step()]

    def to_hourly_mean(self, values: np.ndarray) -> np.ndarray:
        per = self.steps // 24
        values = np.asarray(values, dtype=float)
        return values.reshape((*values.shape[:-1], 24, per)).mean(axis=-1)


def operating_profile(operating_start_hour: float, operating_hours: float) -> np.ndarray:
    """24 hourly weights spreading demand evenly over the operating window (fractional hours allowed)."""
    operating_hours = check_positive("operating_hours", operating_hours)
    if operating_hours > 24:
        raise SwapInputError(f"operating_hours must be at most 24, got {operating_hours}")
    start = float(operating_start_hour) % 24
    edges = np.arange(25, dtype=float)
    weights = np.zeros(24)
    for shift in (0.0, 24.0):  # the window may wrap past midnight
        lo, hi = start - shift, start + operating_hours - shift
        weights += np.clip(np.minimum(edges[1:], hi) - np.maximum(edges[:-1], lo), 0, None)
    return weights / weights.sum()


def commuter_profile(operating_start_hour: int = 6, operating_end_hour: int = 22) -> np.ndarray:
    """A two-peak (07-09 and 16-19) profile over the operating hours, as 24 hourly weights summing to 1.

    The typical shape of ride-hailing e-motorcycle swaps; used when a region has no swap log and
    no profile of its own.
    """
    hours = np.arange(24)
    base = np.where((hours >= operating_start_hour) & (hours < operating_end_hour), 1.0, 0.0)
    peak = np.where(((hours >= 7) & (hours < 9)) | ((hours >= 16) & (hours < 19)), 1.0, 0.0)
    weights = base * (1.0 + 1.0 * peak)
    if weights.sum() <= 0:
        raise SwapInputError("operating window is empty")
    return weights / weights.sum()


def hourly_rates(daily_swaps: np.ndarray | float, profile: np.ndarray) -> np.ndarray:
    """Swap rates per hour, shape (..., 24): daily swaps spread by a 24-hour profile (weights sum to 1)."""
    profile = np.asarray(profile, dtype=float)
    if profile.shape != (24,) or np.any(profile < 0) or profile.sum() <= 0:
        raise SwapInputError("an hourly profile needs 24 non-negative weights with a positive sum")
    daily = np.asarray(daily_swaps, dtype=float)
    if np.any(~np.isfinite(daily)) or np.any(daily <= 0):
        raise SwapInputError(f"daily swap counts must be positive, got {daily!r}")
    return daily[..., None] * (profile / profile.sum())


# --------------------------------------------------------------------------------------------
# Erlang C


def erlang_c(servers: np.ndarray | int, offered_load: np.ndarray | float) -> np.ndarray:
    """Probability of waiting in an M/M/c queue, C(c, a), with a = lambda / mu in erlangs.

    Erlang B from the Poisson ratio B = pmf(c; a) / cdf(c; a) (closed form, no recursion), then
    C = c B / (c - a (1 - B)). Returns 1 where the queue is unstable (a >= c). Broadcasts.
    """
    c_arr, a_arr = np.broadcast_arrays(np.asarray(servers, dtype=float), np.asarray(offered_load, dtype=float))
    with np.errstate(divide="ignore", invalid="ignore", under="ignore"):
        log_b = stats.poisson.logpmf(c_arr, a_arr) - stats.poisson.logcdf(c_arr, a_arr)
        b = np.where(a_arr > 0, np.exp(log_b), 0.0)
        c_prob = c_arr * b / (c_arr - a_arr * (1.0 - b))
    return np.where((a_arr >= c_arr) | (c_arr <= 0), 1.0, np.clip(np.nan_to_num(c_prob), 0.0, 1.0))


def erlang_c_mean_wait_hours(servers, arrival_rate_per_hour, service_hours) -> np.ndarray:
    """Mean wait in queue (hours) of an M/M/c queue; inf when unstable."""
    lam = np.asarray(arrival_rate_per_hour, dtype=float)
    c = np.asarray(servers, dtype=float)
    a = lam * service_hours
    prob = erlang_c(servers, a)
    with np.errstate(divide="ignore", invalid="ignore"):
        wait = prob * service_hours / (c - a)
    return np.where(a >= c, np.inf, np.where(lam <= 0, 0.0, wait))


@dataclass(frozen=True)
class PortSizing:
    ports: int
    offered_load_erlangs: float
    wait_probability: float
    mean_wait_hours: float
    utilisation: float


def size_ports(
    peak_arrival_rate_per_hour: float,
    charging_hours: float,
    max_wait_probability: float | None = 0.2,
    max_mean_wait_hours: float | None = None,
) -> PortSizing:
    """Fewest charging ports such that, at the peak rate, P(wait) and/or the mean wait meet their targets."""
    lam = check_non_negative("peak_arrival_rate_per_hour", peak_arrival_rate_per_hour)
    charging_hours = check_positive("charging_hours", charging_hours)
    if max_wait_probability is not None:
        check_probability("max_wait_probability", max_wait_probability)
    if max_mean_wait_hours is not None:
        check_positive("max_mean_wait_hours", max_mean_wait_hours)
    a = lam * charging_hours
    if lam == 0:
        return PortSizing(0, 0.0, 0.0, 0.0, 0.0)
    lo = math.floor(a) + 1
    candidates = np.arange(lo, lo + 10 * int(math.sqrt(a) + 5) + 20)
    prob = erlang_c(candidates, a)
    wait = erlang_c_mean_wait_hours(candidates, lam, charging_hours)
    ok = np.ones(candidates.shape, dtype=bool)
    if max_wait_probability is not None:
        ok &= prob <= max_wait_probability
    if max_mean_wait_hours is not None:
        ok &= wait <= max_mean_wait_hours
    if not ok.any():  # pragma: no cover - the range is always wide enough
        raise SwapInputError("no port count in range meets the waiting targets")
    first = int(np.argmax(ok))
    c = int(candidates[first])
    return PortSizing(c, a, float(prob[first]), float(wait[first]), a / c)


def port_load_capacity(
    ports: np.ndarray, charging_hours: float, max_wait_probability: float | None, max_mean_wait_hours: float | None
) -> np.ndarray:
    """Largest peak arrival rate (per hour) that `ports` ports serve within the waiting targets.

    Monotone in the port count; used to tabulate port levels in the MILP. Bisection on the rate,
    vectorised over port counts.
    """
    ports = np.asarray(ports, dtype=int)
    lo = np.zeros(ports.shape, dtype=float)
    hi = ports / charging_hours
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        ok = np.ones(ports.shape, dtype=bool)
        if max_wait_probability is not None:
            ok &= erlang_c(ports, mid * charging_hours) <= max_wait_probability
        if max_mean_wait_hours is not None:
            ok &= erlang_c_mean_wait_hours(ports, mid, charging_hours) <= max_mean_wait_hours
        lo = np.where(ok, mid, lo)
        hi = np.where(ok, hi, mid)
    return np.where(ports > 0, lo, 0.0)


# --------------------------------------------------------------------------------------------
# pipeline means


def pipeline_mean_profile(rate_per_hour: np.ndarray, delta_hours: np.ndarray | float, grid: TimeGrid) -> np.ndarray:
    """Mean pipeline m(t) at the step midpoints for periodic daily arrivals.

    `rate_per_hour` (..., steps) is piecewise constant per step; `delta_hours` (scalar or matching
    rates) is the time each arrival of that step spends in the pipeline. Exact for piecewise-constant
    rates and deterministic delays: m(t) = sum_s rate_s * |step s (any earlier day) intersect (t - delta_s, t]|.
    """
    rate = np.asarray(rate_per_hour, dtype=float)
    delta = np.broadcast_to(np.asarray(delta_hours, dtype=float), rate.shape)
    if np.any(delta < 0) or not np.all(np.isfinite(delta)):
        raise SwapInputError("pipeline times must be finite and non-negative")
    n, h = grid.steps, grid.step_hours
    t = (np.arange(n) + 0.5) * h  # evaluation points
    start = np.arange(n) * h  # step starts
    days = int(np.ceil(delta.max(initial=0.0) / HOURS_PER_DAY)) + 1
    total = np.zeros(rate.shape, dtype=float)
    # lag of each step start behind each evaluation point, over the previous days
    for d in range(days):
        lag_start = (t[:, None] - start[None, :]) + d * HOURS_PER_DAY  # (t, s): t - s_start
        lag_end = lag_start - h  # t - s_end
        # arrival u in [s_start, s_end] still in pipeline iff t - delta_s < u <= t, i.e. 0 <= t - u < delta_s
        lo = np.clip(lag_end, 0.0, None)  # (t, s)
        overlap = np.clip(np.minimum(lag_start, delta[..., None, :]) - lo, 0.0, None)  # (..., t, s)
        total += np.einsum("...ts,...s->...t", overlap, rate)
    return total


def pipeline_mean_constant_delay(rate_per_hour: np.ndarray, delta_hours: np.ndarray, grid: TimeGrid) -> np.ndarray:
    """m(t) at step midpoints for one constant delay per row: rates (stations, steps), delays (stations, hubs).

    Returns (stations, hubs, steps). Uses the periodic cumulative arrival curve, so it is cheap for
    many station-hub pairs.
    """
    rate = np.asarray(rate_per_hour, dtype=float)
    delta = np.asarray(delta_hours, dtype=float)
    n, h = grid.steps, grid.step_hours
    per_step = rate * h
    day_total = per_step.sum(axis=-1)  # (stations,)
    cum = np.concatenate([np.zeros((*rate.shape[:-1], 1)), np.cumsum(per_step, axis=-1)], axis=-1)

    def cumulative(x: np.ndarray) -> np.ndarray:
        # arrivals in [0, x) for x of shape (stations, hubs, steps), periodic extension
        day = np.floor(x / HOURS_PER_DAY)
        within = x - day * HOURS_PER_DAY
        idx = np.minimum((within / h).astype(int), n - 1)
        frac = within / h - idx
        stations = np.arange(rate.shape[0])[:, None, None]
        value = cum[stations, idx] + frac * per_step[stations, idx]
        return value + day * day_total[:, None, None]

    t = (np.arange(n) + 0.5) * h
    t3 = np.broadcast_to(t, (*delta.shape, n))
    return cumulative(t3) - cumulative(t3 - delta[..., None])


# --------------------------------------------------------------------------------------------
# pipeline distribution: Poisson or negative binomial


@dataclass(frozen=True)
class Dispersion:
    """Day-to-day variation of the swap rate: Gamma(shape, 1/shape) daily multiplier (None = Poisson)."""

    gamma_shape: float | None = None
    dispersion_index: float = 1.0
    p_value: float = 1.0
    days: int = 0

    @property
    def overdispersed(self) -> bool:
        return self.gamma_shape is not None


def estimate_dispersion(daily_counts: np.ndarray, significance: float = 0.05) -> Dispersion:
    """Test daily swap totals for overdispersion (chi-square index-of-dispersion test).

    Under a Poisson model with a stable rate, (n - 1) s^2 / mean ~ chi2(n - 1). When rejected at
    `significance`, the squared coefficient of variation of the daily multiplier is
    (s^2 - mean) / mean^2 and its Gamma shape is the reciprocal.
    """
    counts = np.asarray(daily_counts, dtype=float)
    n = counts.size
    if n < 3 or counts.mean() <= 0:
        return Dispersion(days=n)
    mean = counts.mean()
    var = counts.var(ddof=1)
    index = var / mean
    p_value = float(stats.chi2.sf((n - 1) * index, n - 1))
    excess = (var - mean) / mean**2
    if p_value < significance and excess > 0:
        return Dispersion(gamma_shape=float(1.0 / excess), dispersion_index=float(index), p_value=p_value, days=n)
    return Dispersion(gamma_shape=None, dispersion_index=float(index), p_value=p_value, days=n)


def pipeline_cdf(levels: np.ndarray, mean: np.ndarray, dispersion: Dispersion, size_biased: bool) -> np.ndarray:
    """P(D <= level) for pipeline means `mean` (any shape) and `levels` broadcast on a new last axis.

    `size_biased=True` gives the distribution an arriving rider sees (for fill rates);
    `False` the time-average distribution (for expected backorders).
    """
    m = np.asarray(mean, dtype=float)[..., None]
    k = np.asarray(levels)
    if dispersion.gamma_shape is None:
        return stats.poisson.cdf(k, m)
    r = dispersion.gamma_shape
    shape = r + 1.0 if size_biased else r
    return stats.nbinom.cdf(k, shape, r / (r + m))


@dataclass(frozen=True)
class ServiceTable:
    """Service measures for spare levels 0..K of one or many pipelines.

    Arrays have shape (..., K + 1): index k is "k spare batteries".
    """

    levels: np.ndarray
    fill_rate: np.ndarray  # arrival-weighted over the day
    worst_hour_fill_rate: np.ndarray  # lowest fill rate of any clock hour with arrivals
    expected_backorders: np.ndarray  # time-average number of riders waiting for a battery
    ready_rate: np.ndarray  # time-average P(no rider waiting)


def service_table(
    rate_per_hour: np.ndarray,
    pipeline_mean: np.ndarray,
    grid: TimeGrid,
    max_level: int,
    dispersion: Dispersion = Dispersion(),
) -> ServiceTable:
    """Tabulate fill rate, worst-hour fill rate and expected backorders for spare levels 0..max_level.

    `rate_per_hour` and `pipeline_mean` have shape (..., steps) (broadcastable).
    """
    rate = np.asarray(rate_per_hour, dtype=float)
    m = np.asarray(pipeline_mean, dtype=float)
    rate, m = np.broadcast_arrays(rate, m)
    levels = np.arange(max_level + 1)
    # P(D <= k - 1) for k = 0..K  -> cdf at -1..K-1
    cdf_arrival = pipeline_cdf(levels - 1, m, dispersion, size_biased=True)  # (..., steps, K+1)
    weights = rate[..., None]
    total = weights.sum(axis=-2)
    with np.errstate(invalid="ignore", divide="ignore"):
        fill = (weights * cdf_arrival).sum(axis=-2) / total
    # per clock hour
    per = grid.steps // 24
    hourly_num = (weights * cdf_arrival).reshape((*rate.shape[:-1], 24, per, levels.size)).sum(axis=-2)
    hourly_den = weights.reshape((*rate.shape[:-1], 24, per, 1)).sum(axis=-2)
    with np.errstate(invalid="ignore", divide="ignore"):
        hourly_fill = np.where(hourly_den > 0, hourly_num / np.where(hourly_den > 0, hourly_den, 1.0), np.inf)
    worst = hourly_fill.min(axis=-2)
    # time-average backorders E[(D - k)^+] = m - k + sum_{j<k} P(D <= j)
    cdf_time = pipeline_cdf(levels, m, dispersion, size_biased=False)  # P(D <= j), j = 0..K
    partial = np.concatenate([np.zeros((*cdf_time.shape[:-1], 1)), np.cumsum(cdf_time, axis=-1)[..., :-1]], axis=-1)
    ebo = np.clip(m[..., None] - levels + partial, 0.0, None).mean(axis=-2)
    ready = cdf_time.mean(axis=-2)
    return ServiceTable(levels, fill, worst, ebo, ready)


def required_level(table_measure: np.ndarray, target: float) -> np.ndarray:
    """Smallest level whose measure reaches `target` (last axis = levels); -1 where none does."""
    ok = np.asarray(table_measure) >= target - 1e-12
    first = np.argmax(ok, axis=-1)
    return np.where(ok.any(axis=-1), first, -1)


def max_level_for(pipeline_mean: np.ndarray, dispersion: Dispersion = Dispersion(), tail: float = 1e-7) -> int:
    """A spare level beyond which every service measure is 1 to within `tail`."""
    m = float(np.max(pipeline_mean, initial=0.0))
    if dispersion.gamma_shape is None:
        return int(stats.poisson.ppf(1 - tail, m)) + 2 if m > 0 else 2
    r = dispersion.gamma_shape
    return int(stats.nbinom.ppf(1 - tail, r + 1.0, r / (r + m))) + 2 if m > 0 else 2


# --------------------------------------------------------------------------------------------
# single-hub model (the CLI case and the building block of a network evaluation)


@dataclass(frozen=True)
class SingleHubInput:
    """A fleet, its swap stations pooled into one stock, and one charging hub.

    Units: rates per vehicle-day, times in hours; `transport_hours` is ONE WAY (the model uses the round trip).
    """

    vehicles: int = 200
    swaps_per_vehicle_day: float = 2.0
    charging_hours: float = 3.0
    transport_hours: float = 0.5
    operating_hours: float = 16.0
    operating_start_hour: float = 6.0
    service_level: float = 0.95  # fill-rate target (share of swaps served from stock at once)
    max_wait_probability: float | None = 0.2  # Erlang C target for P(a battery waits for a port)
    max_mean_wait_hours: float | None = None
    service_basis: str = "worst_hour"  # "worst_hour" (target holds in every clock hour) or "day"
    step_minutes: int = 10
    hourly_profile: tuple[float, ...] | None = None  # overrides the even spread over operating hours

    def validate(self) -> None:
        check_vehicles(self.vehicles)
        check_positive("swaps_per_vehicle_day", self.swaps_per_vehicle_day)
        check_positive("charging_hours", self.charging_hours)
        check_non_negative("transport_hours", self.transport_hours)
        check_positive("operating_hours", self.operating_hours)
        if self.operating_hours > 24:
            raise SwapInputError(f"operating_hours must be at most 24, got {self.operating_hours}", "operating_hours")
        check_hour_of_day("operating_start_hour", self.operating_start_hour)
        check_probability("service_level", self.service_level)
        if self.max_wait_probability is None and self.max_mean_wait_hours is None:
            raise SwapInputError("give max_wait_probability and/or max_mean_wait_hours for port sizing")
        if self.max_wait_probability is not None:
            check_probability("max_wait_probability", self.max_wait_probability)
        if self.max_mean_wait_hours is not None:
            check_positive("max_mean_wait_hours", self.max_mean_wait_hours)
        if self.service_basis not in ("worst_hour", "day"):
            raise SwapInputError(f"service_basis must be 'worst_hour' or 'day', got {self.service_basis!r}")

    def profile(self) -> np.ndarray:
        if self.hourly_profile is not None:
            return np.asarray(self.hourly_profile, dtype=float) / float(np.sum(self.hourly_profile))
        return operating_profile(self.operating_start_hour, self.operating_hours)


@dataclass(frozen=True)
class SingleHubResult:
    swap_rate_per_hour: float  # during operating hours (peak hour rate for uneven profiles)
    mean_swap_rate_per_hour: float  # over operating hours
    pipeline_hours: float  # charging + round trip + expected port wait (arrival-weighted)
    pipeline_mean: float  # peak of the mean pipeline over the day
    spare_batteries: int
    total_batteries: int
    charging_ports: int
    port_wait_probability: float
    port_mean_wait_hours: float
    port_utilisation_peak: float
    fill_rate: float  # analytic, over the day's arrivals, at the chosen spares
    worst_hour_fill_rate: float
    expected_backorders: float
    hourly_rate_per_hour: np.ndarray = field(repr=False)
    hourly_pipeline_mean: np.ndarray = field(repr=False)

    def as_dict(self) -> dict:
        out = {k: v for k, v in self.__dict__.items() if not isinstance(v, np.ndarray)}
        out["hourly_rate_per_hour"] = [round(float(x), 6) for x in self.hourly_rate_per_hour]
        out["hourly_pipeline_mean"] = [round(float(x), 6) for x in self.hourly_pipeline_mean]
        return out


def solve_single_hub(params: SingleHubInput, dispersion: Dispersion = Dispersion()) -> SingleHubResult:
    """Ports from Erlang C at the peak rate, then spares from the exact pipeline quantile."""
    params.validate()
    grid = TimeGrid(params.step_minutes)
    daily = params.vehicles * params.swaps_per_vehicle_day
    hourly = hourly_rates(daily, params.profile())
    rate = grid.from_hourly(hourly)  # (steps,)
    peak = float(rate.max())
    ports = size_ports(peak, params.charging_hours, params.max_wait_probability, params.max_mean_wait_hours)
    # expected port wait of each step's arrivals (pointwise-stationary Erlang C at the hub arrival rate;
    # the hub sees the station rate shifted by the one-way transport time, the shift does not change rates)
    hub_rate = np.roll(rate, round(params.transport_hours / grid.step_hours))
    wait_at_hub = erlang_c_mean_wait_hours(ports.ports, hub_rate, params.charging_hours)
    wait = np.roll(wait_at_hub, -round(params.transport_hours / grid.step_hours))
    delta = params.charging_hours + 2.0 * params.transport_hours + wait
    m = pipeline_mean_profile(rate, delta, grid)
    top = max_level_for(m, dispersion)
    table = service_table(rate, m, grid, top, dispersion)
    measure = table.worst_hour_fill_rate if params.service_basis == "worst_hour" else table.fill_rate
    spares = int(required_level(measure, params.service_level))
    operating = rate > 0
    mean_delta = float((rate * delta).sum() / rate.sum())
    return SingleHubResult(
        swap_rate_per_hour=peak,
        mean_swap_rate_per_hour=float(rate[operating].mean()),
        pipeline_hours=mean_delta,
        pipeline_mean=float(m.max()),
        spare_batteries=spares,
        total_batteries=int(params.vehicles) + spares,
        charging_ports=ports.ports,
        port_wait_probability=ports.wait_probability,
        port_mean_wait_hours=ports.mean_wait_hours,
        port_utilisation_peak=ports.utilisation,
        fill_rate=float(table.fill_rate[spares]),
        worst_hour_fill_rate=float(table.worst_hour_fill_rate[spares]),
        expected_backorders=float(table.expected_backorders[spares]),
        hourly_rate_per_hour=grid.to_hourly_mean(rate),
        hourly_pipeline_mean=grid.to_hourly_mean(m),
    )


@dataclass(frozen=True)
class NaivePlan:
    """What the common spreadsheet method gives: 24-hour average rate, one-way transport, flat port margin."""

    swap_rate_per_hour: float
    pipeline_hours: float
    pipeline_mean: float
    spare_batteries: int
    charging_ports: int


def naive_single_hub(params: SingleHubInput, port_margin: float = 0.2) -> NaivePlan:
    """The naive method, for comparison only.

    rate = daily swaps / 24 h; pipeline = charging + ONE-WAY transport; spares = mean + z * sqrt(mean)
    (normal approximation); ports = ceil((1 + margin) x rate x charging time).
    """
    params.validate()
    rate = params.vehicles * params.swaps_per_vehicle_day / HOURS_PER_DAY
    delta = params.charging_hours + params.transport_hours
    mean = rate * delta
    z = stats.norm.ppf(params.service_level)
    spares = math.ceil(mean + z * math.sqrt(mean))
    ports = math.ceil((1 + port_margin) * rate * params.charging_hours)
    return NaivePlan(rate, delta, mean, spares, ports)
