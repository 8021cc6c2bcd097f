//! The fixed facts of the synthetic Streamflix: currencies, plans, add-ons,
//! countries, partners, device types, the content library and FX rates.

use rand::Rng;

use crate::util::{Prng, normal, rng};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Cur {
    Usd,
    Eur,
    Gbp,
    Brl,
    Jpy,
}

impl Cur {
    pub(crate) const ALL: [Cur; 5] = [Cur::Usd, Cur::Eur, Cur::Gbp, Cur::Brl, Cur::Jpy];

    pub(crate) fn code(self) -> &'static str {
        match self {
            Cur::Usd => "USD",
            Cur::Eur => "EUR",
            Cur::Gbp => "GBP",
            Cur::Brl => "BRL",
            Cur::Jpy => "JPY",
        }
    }

    pub(crate) fn idx(self) -> usize {
        self as usize
    }

    /// Money units (1e-4) in the currency's smallest coin.
    pub(crate) fn minor(self) -> i64 {
        if self == Cur::Jpy { 10_000 } else { 100 }
    }

    /// Rounds money units to whole coins, the way a processor reports them.
    pub(crate) fn round(self, units: f64) -> i64 {
        let minor = self.minor() as f64;
        (units / minor).round() as i64 * self.minor()
    }

    /// A typical value of one unit in USD, to scale amounts.
    pub(crate) fn base_usd(self) -> f64 {
        match self {
            Cur::Usd => 1.0,
            Cur::Eur => 1.085,
            Cur::Gbp => 1.27,
            Cur::Brl => 0.185,
            Cur::Jpy => 0.0067,
        }
    }
}

const fn c(cents: i64) -> i64 {
    cents * 100
}

const fn y(yen: i64) -> i64 {
    yen * 10_000
}

/// Prices in USD, EUR, GBP, BRL (cents) and JPY (yen), as money units.
const fn prices(usd: i64, eur: i64, gbp: i64, brl: i64, jpy: i64) -> [i64; 5] {
    [c(usd), c(eur), c(gbp), c(brl), y(jpy)]
}

pub(crate) struct Plan {
    pub id: &'static str,
    pub tier: u8,
    /// The monthly price in force (annual plans: the year's price / 12).
    pub price: [i64; 5],
    pub weight: u32,
}

pub(crate) const PLANS: [Plan; 6] = [
    Plan {
        id: "basic_monthly",
        tier: 1,
        price: prices(799, 699, 599, 2590, 890),
        weight: 30,
    },
    Plan {
        id: "standard_monthly",
        tier: 2,
        price: prices(1699, 1349, 1099, 3990, 1490),
        weight: 38,
    },
    Plan {
        id: "premium_monthly",
        tier: 3,
        price: prices(2299, 2099, 1799, 5590, 1980),
        weight: 18,
    },
    Plan {
        id: "standard_annual",
        tier: 2,
        price: prices(1299, 1199, 999, 3499, 1190),
        weight: 8,
    },
    Plan {
        id: "premium_annual",
        tier: 3,
        price: prices(1999, 1749, 1499, 4699, 1650),
        weight: 6,
    },
    // Sold during a promotion but never entered in the catalog.
    Plan {
        id: "promo_holiday",
        tier: 1,
        price: prices(999, 899, 799, 2990, 990),
        weight: 0,
    },
];

pub(crate) const PROMO_PLAN: u8 = 5;
pub(crate) const STANDARD_MONTHLY: u8 = 1;
pub(crate) const PREMIUM_MONTHLY: u8 = 2;
/// The prices before the catalog's later update rows.
pub(crate) const OLD_STANDARD_USD: i64 = c(1549);
pub(crate) const OLD_PREMIUM_EUR: i64 = c(1999);

pub(crate) fn plan_tier(plan: u8) -> u8 {
    PLANS[plan as usize].tier
}

/// A plan of another tier (upgrade or downgrade), or the annual/monthly
/// twin of the same tier.
pub(crate) fn other_plan(rng: &mut Prng, plan: u8) -> u8 {
    let tier = plan_tier(plan);
    if rng.random_bool(0.1) {
        return match plan {
            1 => 3,
            3 => 1,
            2 => 4,
            4 => 2,
            _ => 1,
        };
    }
    let up = match tier {
        1 => true,
        3 => false,
        _ => rng.random_bool(0.6),
    };
    let target = if up { tier + 1 } else { tier - 1 };
    let annual = plan == 3 || plan == 4;
    match (target, annual) {
        (1, _) => 0,
        (2, false) => 1,
        (2, true) => 3,
        (_, false) => 2,
        (_, true) => 4,
    }
}

pub(crate) struct Addon {
    pub id: &'static str,
    pub price: [i64; 5],
}

pub(crate) const ADDONS: [Addon; 3] = [
    Addon {
        id: "live_sports",
        price: prices(999, 899, 799, 2990, 1200),
    },
    Addon {
        id: "ad_free",
        price: prices(300, 299, 249, 990, 390),
    },
    Addon {
        id: "extra_stream",
        price: prices(799, 599, 499, 1990, 690),
    },
];
pub(crate) const ADDON_AD_FREE: u8 = 1 << 1;

pub(crate) struct Country {
    pub code: &'static str,
    pub cur: Cur,
    pub weight: u32,
    /// Local evening hours relative to Central time (range of offsets).
    pub hours_from_ct: (i32, i32),
}

pub(crate) const COUNTRIES: [Country; 9] = [
    Country {
        code: "US",
        cur: Cur::Usd,
        weight: 40,
        hours_from_ct: (-2, 1),
    },
    Country {
        code: "CA",
        cur: Cur::Usd,
        weight: 5,
        hours_from_ct: (-2, 2),
    },
    Country {
        code: "MX",
        cur: Cur::Usd,
        weight: 5,
        hours_from_ct: (0, 0),
    },
    Country {
        code: "BR",
        cur: Cur::Brl,
        weight: 10,
        hours_from_ct: (2, 3),
    },
    Country {
        code: "GB",
        cur: Cur::Gbp,
        weight: 10,
        hours_from_ct: (6, 6),
    },
    Country {
        code: "DE",
        cur: Cur::Eur,
        weight: 8,
        hours_from_ct: (7, 7),
    },
    Country {
        code: "FR",
        cur: Cur::Eur,
        weight: 7,
        hours_from_ct: (7, 7),
    },
    Country {
        code: "ES",
        cur: Cur::Eur,
        weight: 5,
        hours_from_ct: (7, 7),
    },
    Country {
        code: "JP",
        cur: Cur::Jpy,
        weight: 10,
        hours_from_ct: (14, 14),
    },
];

pub(crate) struct Partner {
    pub id: &'static str,
    pub cur: Cur,
    /// Licensing cost per subscriber and month, in USD.
    pub usd_per_sub: f64,
    /// Share of the library, in percent.
    pub share: u32,
}

pub(crate) const PARTNERS: [Partner; 6] = [
    Partner {
        id: "partner-aurora",
        cur: Cur::Usd,
        usd_per_sub: 0.95,
        share: 18,
    },
    Partner {
        id: "partner-bluefin",
        cur: Cur::Usd,
        usd_per_sub: 0.70,
        share: 14,
    },
    Partner {
        id: "partner-cedar",
        cur: Cur::Eur,
        usd_per_sub: 0.55,
        share: 11,
    },
    Partner {
        id: "partner-dunmore",
        cur: Cur::Gbp,
        usd_per_sub: 0.45,
        share: 9,
    },
    Partner {
        id: "partner-everlight",
        cur: Cur::Jpy,
        usd_per_sub: 0.35,
        share: 8,
    },
    Partner {
        id: "partner-foxglove",
        cur: Cur::Brl,
        usd_per_sub: 0.25,
        share: 5,
    },
];
/// The rest of the library (35 %) is originals.
pub(crate) const ORIGINALS_SHARE: u32 = 35;
/// The partner whose cost report for one month is late (never arrives).
pub(crate) const LATE_PARTNER: usize = 3;
pub(crate) const NO_PARTNER: u8 = u8::MAX;

pub(crate) struct DeviceType {
    pub name: &'static str,
    pub weight: u32,
    /// Seconds between heartbeats while playing.
    pub heartbeat: (u32, u32),
}

pub(crate) const DEVICE_TYPES: [DeviceType; 5] = [
    DeviceType {
        name: "tv",
        weight: 34,
        heartbeat: (240, 300),
    },
    DeviceType {
        name: "mobile",
        weight: 30,
        heartbeat: (60, 120),
    },
    DeviceType {
        name: "web",
        weight: 15,
        heartbeat: (120, 180),
    },
    DeviceType {
        name: "tablet",
        weight: 13,
        heartbeat: (90, 180),
    },
    DeviceType {
        name: "console",
        weight: 8,
        heartbeat: (240, 300),
    },
];
pub(crate) const DEVICE_MOBILE: u8 = 1;
pub(crate) const DEVICE_WEB: u8 = 2;

/// Content ids are `ct-` and six digits; index 0 is the most watched title.
pub(crate) struct Library {
    pub duration: Vec<u32>,
    pub partner: Vec<u8>,
    pub listed: Vec<bool>,
    cdf: Vec<f64>,
}

impl Library {
    pub(crate) fn new(seed: u64, subscribers: u32, unlisted: bool) -> Library {
        let n = (subscribers / 5).clamp(300, 20_000) as usize;
        let mut r = rng(seed, 0x11b, 0, 0);
        let mut duration = Vec::with_capacity(n);
        let mut partner = Vec::with_capacity(n);
        for _ in 0..n {
            let movie = r.random_bool(0.25);
            duration.push(if movie {
                r.random_range(5100..9600)
            } else {
                r.random_range(1320..3600)
            });
            let roll = r.random_range(0..100);
            let mut acc = ORIGINALS_SHARE;
            let mut p = NO_PARTNER;
            if roll >= acc {
                for (i, partner) in PARTNERS.iter().enumerate() {
                    acc += partner.share;
                    if roll < acc || i == PARTNERS.len() - 1 {
                        p = i as u8;
                        break;
                    }
                }
            }
            partner.push(p);
        }
        let mut listed = vec![true; n];
        if unlisted {
            // Mid-popularity partner titles the catalog forgot: they are
            // watched, but rarely enough that coverage stays near 99.9 %.
            for frac in [0.31, 0.47, 0.62, 0.78] {
                let mut i = (n as f64 * frac) as usize;
                while partner[i] == NO_PARTNER {
                    i += 1;
                }
                listed[i] = false;
            }
        }
        // Zipf popularity (s = 1).
        let mut cdf = Vec::with_capacity(n);
        let mut acc = 0.0;
        for i in 0..n {
            acc += 1.0 / (i as f64 + 1.0);
            cdf.push(acc);
        }
        for v in &mut cdf {
            *v /= acc;
        }
        Library {
            duration,
            partner,
            listed,
            cdf,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.duration.len()
    }

    pub(crate) fn pick(&self, rng: &mut Prng) -> u32 {
        let u: f64 = rng.random();
        self.cdf.partition_point(|&c| c < u).min(self.cdf.len() - 1) as u32
    }
}

/// Daily FX rates, held as `usd_per_unit * 1e8` so that what is printed is
/// exactly what the GL's arithmetic used.
pub(crate) struct Fx {
    pub first: i32,
    pub last: i32,
    rates: [Vec<i64>; 5],
    /// `(currency, first missing day, last missing day)`.
    pub gap: Option<(Cur, i32, i32)>,
}

pub(crate) const FX_SCALE: f64 = 1e8;
pub(crate) const FX_GAP_CURRENCY: Cur = Cur::Brl;
pub(crate) const FX_GAP_DAYS: i32 = 10;

impl Fx {
    pub(crate) fn new(seed: u64, first: i32, last: i32, gap_start: Option<i32>) -> Fx {
        let n = (last - first + 1) as usize;
        let rates = Cur::ALL.map(|cur| {
            let mut r = rng(seed, 0xf0, cur.idx() as u64, 0);
            let mut v = if cur == Cur::Usd {
                1.0
            } else {
                cur.base_usd() * (1.0 + 0.02 * normal(&mut r))
            };
            (0..n)
                .map(|_| {
                    if cur != Cur::Usd {
                        v *= 1.0 + 0.004 * normal(&mut r);
                    }
                    // Six significant digits, as a market data vendor sends.
                    let digits = 5 - v.log10().floor() as i32;
                    let q = 10f64.powi(digits);
                    ((v * q).round() / q * FX_SCALE).round() as i64
                })
                .collect()
        });
        let gap = gap_start.map(|g| (FX_GAP_CURRENCY, g, (g + FX_GAP_DAYS - 1).min(last)));
        Fx {
            first,
            last,
            rates,
            gap,
        }
    }

    /// The rate in force on day `d` (true even inside the published gap).
    pub(crate) fn scaled(&self, cur: Cur, d: i32) -> i64 {
        let i = (d.clamp(self.first, self.last) - self.first) as usize;
        self.rates[cur.idx()][i]
    }

    pub(crate) fn usd(&self, cur: Cur, d: i32) -> f64 {
        self.scaled(cur, d) as f64 / FX_SCALE
    }

    pub(crate) fn published(&self, cur: Cur, d: i32) -> bool {
        match self.gap {
            Some((c, a, b)) => !(c == cur && (a..=b).contains(&d)),
            None => true,
        }
    }
}
