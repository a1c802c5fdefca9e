"""Synthetic catalogs: the space-time ETAS model (:class:`ETASParams`, :func:`etas_catalog`),
Gutenberg-Richter magnitudes (:func:`gr_magnitudes`) and the b-value (:func:`b_value`). NumPy only."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ...core.errors import DataError
from .catalog import Catalog
from .cells import _day


KM_PER_DEG = 111.195  # great-circle km per degree on a sphere of radius 6371 km


# Hotspots of the default background: (latitude, longitude, spread in degrees (1 sigma), share of
# the background rate), placed on well-known seismic belts (Japan, Sumatra, Chile, Alaska, California,
# Turkey) to give a realistic "few active regions, most cells silent" map; they are a choice, not a fit.
DEFAULT_HOTSPOTS = ((36.0, 141.0, 2.5, 0.25), (-1.0, 99.0, 3.0, 0.20), (-30.0, -71.5, 3.0, 0.20),
                    (58.0, -152.0, 2.5, 0.15), (35.5, -118.0, 1.5, 0.10), (39.0, 35.0, 2.0, 0.10))


@dataclass(frozen=True)
class ETASParams:
    """Settings of the space-time ETAS model (Ogata 1988, 1998). Time in days, distance in km.

    Conditional intensity: lambda(t, x, y) = mu * u(x, y) + sum over earlier events i of
    K * 10**(alpha * (M_i - mc)) * (t - t_i + c)**(-p) * f(x - x_i, y - y_i | M_i),
    magnitudes drawn independently from Gutenberg-Richter.

    mu = 8.0: background events per day with M >= mc, over the whole map.
    mc = 2.5: magnitude of completeness, the smallest magnitude simulated (and the reference magnitude).
    b = 1.0: Gutenberg-Richter b-value, log10 N(>=M) = a - b M (Gutenberg & Richter 1944; close to 1
        almost everywhere). Magnitudes follow a G-R law truncated at m_max = 9.0.
    K = 0.008, alpha = 0.8, c = 0.01 day, p = 1.1: Omori-Utsu productivity and decay. p around 1.1
        (Utsu, Ogata & Matsu'ura 1995: most sequences 0.9-1.5) and c of 0.001-0.1 day are typical fits;
        alpha = 0.8 in base 10 (i.e. 0.8 * ln 10 = 1.84 in Ogata's exp(alpha (M - mc)) form) follows
        Helmstetter (2003) and Helmstetter, Kagan & Jackson (2005), alpha about 0.8 b. K is set so the
        branching ratio (direct aftershocks per event, integrated over all time and magnitudes)
        K * c**(1-p)/(p-1) * b/(b-alpha) * (1 - 10**(-(b-alpha)(m_max-mc))) is about 0.60: subcritical
        (< 1), in the 0.5-0.9 range of fitted catalogs (Helmstetter & Sornette 2003).
    d = 0.5 km, gamma = 0.5, q = 1.5: spatial kernel of an aftershock around its parent,
        f(r) proportional to (1 + r**2 / L**2)**(-q) with L = d * 10**(gamma * (M - mc)) km, the power-law
        form of Ogata (1998, model 5; Zhuang, Ogata & Vere-Jones 2002). gamma = 0.5 makes L scale like
        rupture length (Wells & Coppersmith 1994: length ~ 10**(0.5 to 0.6 M)); an M7 has L = 89 km.
        Distances are cut at max_km = 1000.
    hotspots: (lat, lon, sigma_deg, share) Gaussian blobs that share the background rate;
    uniform_share = 0.02 of the background falls anywhere on the globe.

    References: Ogata, Y. (1988) JASA 83, 9-27; Ogata, Y. (1998) Ann. Inst. Statist. Math. 50,
    379-402; Utsu, T., Ogata, Y. & Matsu'ura, R. S. (1995) J. Phys. Earth 43, 1-33; Gutenberg, B. &
    Richter, C. F. (1944) BSSA 34, 185-188; Helmstetter, A. (2003) Phys. Rev. Lett. 91, 058501;
    Helmstetter, A., Kagan, Y. Y. & Jackson, D. D. (2005) JGR 110, B05S08; Helmstetter, A. &
    Sornette, D. (2003) JGR 108(B10), 2457; Zhuang, J., Ogata, Y. & Vere-Jones, D. (2002) JASA 97,
    369-380; Wells, D. L. & Coppersmith, K. J. (1994) BSSA 84, 974-1002.
    """

    mu: float = 8.0
    mc: float = 2.5
    b: float = 1.0
    m_max: float = 9.0
    K: float = 0.008
    alpha: float = 0.8
    c: float = 0.01
    p: float = 1.1
    d: float = 0.5
    gamma: float = 0.5
    q: float = 1.5
    max_km: float = 1000.0
    hotspots: tuple = DEFAULT_HOTSPOTS
    uniform_share: float = 0.02

    def branching_ratio(self) -> float:
        """Expected direct aftershocks per event (all time, all magnitudes); must be < 1."""
        db = self.b - self.alpha
        mags = self.b / db * (1 - 10 ** (-db * (self.m_max - self.mc))) if db else self.b * math.log(10) * (
            self.m_max - self.mc)
        return self.K * self.c ** (1 - self.p) / (self.p - 1) * mags

    def check(self) -> None:
        """Raise DataError (one line) for settings the simulation cannot run with."""
        if not (self.mu > 0 and self.b > 0 and self.m_max > self.mc and self.c > 0 and self.d > 0 and self.q > 1):
            raise DataError("ETAS settings need mu, b, c, d > 0, m_max > mc and q > 1")
        if self.p <= 1:
            raise DataError(f"ETAS p = {self.p} must be > 1 (p <= 1 gives infinitely many aftershocks)")
        if not self.branching_ratio() < 1:
            raise DataError(f"ETAS branching ratio {self.branching_ratio():.2f} >= 1: the catalog would explode; "
                            "lower K or alpha")
        shares = sum(h[3] for h in self.hotspots) + self.uniform_share
        if not shares > 0:
            raise DataError("ETAS background needs hotspots or uniform_share > 0")


def gr_magnitudes(rng: np.random.Generator, n: int, params: ETASParams) -> np.ndarray:
    """(n,) magnitudes from the Gutenberg-Richter law with b-value ``params.b``, truncated to [mc, m_max]."""
    u = rng.random(n)
    span = 1.0 - 10.0 ** (-params.b * (params.m_max - params.mc))
    return params.mc - np.log10(1.0 - u * span) / params.b


def _omori_delays(rng: np.random.Generator, horizon: np.ndarray, params: ETASParams) -> np.ndarray:
    """(n,) delays in days from the Omori-Utsu density (t + c)**-p truncated to [0, horizon] (n,)."""
    a = params.c ** (1 - params.p)
    b = (horizon + params.c) ** (1 - params.p)
    u = rng.random(horizon.shape[0])
    return np.minimum((a - u * (a - b)) ** (1.0 / (1 - params.p)) - params.c, horizon)


def _omori_integral(horizon: np.ndarray, params: ETASParams) -> np.ndarray:
    """Integral of (t + c)**-p over [0, horizon] days."""
    return (params.c ** (1 - params.p) - (horizon + params.c) ** (1 - params.p)) / (params.p - 1)


def _move(lat: np.ndarray, lon: np.ndarray, km: np.ndarray, angle: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Points ``km`` away from (lat, lon) in direction ``angle`` (radians from north), on a flat local
    map; latitude kept inside the poles, longitude wrapped to [-180, 180)."""
    new_lat = np.clip(lat + km * np.cos(angle) / KM_PER_DEG, -89.999, 89.999)
    coslat = np.maximum(np.cos(np.radians(lat)), 0.01)
    new_lon = (lon + km * np.sin(angle) / (KM_PER_DEG * coslat) + 180.0) % 360.0 - 180.0
    return new_lat, new_lon


def _background_places(rng: np.random.Generator, n: int, params: ETASParams) -> tuple[np.ndarray, np.ndarray]:
    """(n,) latitudes and longitudes from the hotspot mixture (plus the uniform share on the sphere)."""
    spots = np.array([h for h in params.hotspots], dtype=np.float64).reshape(-1, 4)
    weights = np.r_[spots[:, 3], params.uniform_share]
    which = rng.choice(weights.size, size=n, p=weights / weights.sum())
    lat = np.empty(n)
    lon = np.empty(n)
    uni = which == spots.shape[0]
    lat[uni] = np.degrees(np.arcsin(rng.uniform(-1.0, 1.0, uni.sum())))
    lon[uni] = rng.uniform(-180.0, 180.0, uni.sum())
    hs = ~uni
    s = spots[which[hs]]
    lat[hs] = np.clip(s[:, 0] + s[:, 2] * rng.standard_normal(hs.sum()), -89.999, 89.999)
    lon[hs] = (s[:, 1] + s[:, 2] * rng.standard_normal(hs.sum()) / np.maximum(np.cos(np.radians(s[:, 0])), 0.01)
               + 180.0) % 360.0 - 180.0
    return lat, lon


def etas_catalog(days: float, seed: int, params: ETASParams = ETASParams(), start: str = "2000-01-01") -> Catalog:
    """Simulate ``days`` days of ETAS seismicity from ``start`` (UTC midnight), deterministic by ``seed``.

    Branching (cluster) simulation: Poisson background events over [0, days), then generation by
    generation each event's direct aftershocks: Poisson count K 10**(alpha (M - mc)) times the Omori
    integral up to the end, Omori-Utsu delays, G-R magnitudes, power-law distances. Aftershocks after
    the end are not simulated. Returns a time-sorted :class:`Catalog` with ``parent`` (index of the
    triggering event, -1 for background) and ids ``etas<seed>-<n>``; write it with :func:`write_comcat`.
    """
    params.check()
    if not days > 0:
        raise DataError(f"ETAS days = {days} must be > 0")
    rng = np.random.default_rng(seed)
    n0 = rng.poisson(params.mu * days)
    t = [rng.uniform(0.0, days, n0)]
    lat0, lon0 = _background_places(rng, n0, params)
    lat, lon, mag, parent = [lat0], [lon0], [gr_magnitudes(rng, n0, params)], [np.full(n0, -1, dtype=np.int64)]
    first, count = 0, n0  # the current generation is events [first, first + count)
    while count:
        pt, plat, plon, pmag = t[-1], lat[-1], lon[-1], mag[-1]
        expected = params.K * 10.0 ** (params.alpha * (pmag - params.mc)) * _omori_integral(days - pt, params)
        kids = rng.poisson(expected)
        n = int(kids.sum())
        who = np.repeat(np.arange(count), kids)
        horizon = days - pt[who]
        t.append(pt[who] + _omori_delays(rng, horizon, params))
        scale = params.d * 10.0 ** (params.gamma * (pmag[who] - params.mc))
        r = scale * np.sqrt(rng.random(n) ** (-1.0 / (params.q - 1.0)) - 1.0)
        new_lat, new_lon = _move(plat[who], plon[who], np.minimum(r, params.max_km),
                                 rng.uniform(0.0, 2 * np.pi, n))
        lat.append(new_lat)
        lon.append(new_lon)
        mag.append(gr_magnitudes(rng, n, params))
        parent.append(first + who)
        first, count = first + count, n
    t_all, par = np.concatenate(t), np.concatenate(parent)
    order = np.argsort(t_all, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    par = par[order]
    par = np.where(par >= 0, rank[np.maximum(par, 0)], -1)
    ms = np.floor(t_all[order] * 86_400_000.0).astype(np.int64)  # floor: an event stays before the end
    time = _day(start).astype("datetime64[ms]") + ms.astype("timedelta64[ms]")
    n = order.size
    return Catalog(time=time, latitude=np.concatenate(lat)[order], longitude=np.concatenate(lon)[order],
                   depth=np.full(n, 10.0), mag=np.concatenate(mag)[order], mag_type=np.full(n, "etas"),
                   event_id=np.array([f"etas{seed}-{i}" for i in range(n)]), parent=par,
                   source=f"etas(days={days:g}, seed={seed})")


def b_value(mags, mc: float) -> float:
    """Aki's (1965) maximum-likelihood b-value of continuous magnitudes >= mc: log10(e) / (mean(M) - mc)."""
    m = np.asarray(mags, dtype=np.float64)
    m = m[m >= mc]
    if m.size < 2:
        raise DataError(f"a b-value needs at least 2 magnitudes >= {mc}, got {m.size}")
    return float(math.log10(math.e) / (m.mean() - mc))
