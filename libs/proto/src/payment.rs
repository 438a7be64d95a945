//! Payment estimates (issue 20, item 2): a rooftop's finance and lease rates, what a shopper or
//! an agent asks, and the estimate computed from them. Pure arithmetic, no I/O: the REST layer
//! (`libs/rest/src/payment.rs`) reads the rates and stores what was shown.
//!
//! # Units and rounding
//! Money is **integer cents** (`i64`) everywhere; rates are integers too: percentages in basis
//! points (`690` = 6.90 %), the money factor in millionths (`1250` = 0.00125). No decimal crate
//! is a dependency of the workspace, and none is needed: every amount a dealer writes on a
//! contract (tax, residual, amount financed) is an integer of cents computed with integer
//! arithmetic, rounded **half up** to the cent once ([`mul_bp`]). Only the amortization needs
//! a power, `(1 + r)^−n`, which is computed in `f64` (53 bits: exact to far below a cent for any
//! price under 10⁹ cents) and the payment rounded half up to the cent at the end only.
//!
//! # Finance (standard amortization)
//! - tax = (price + dealer fees) × tax rate, rounded to the cent: the tax applies to the
//!   selling price and the fees (as most US states tax documentary fees), before the down
//!   payment (which is paid with taxed money, not a trade-in credit);
//! - amount financed P = price + fees + tax − down;
//! - r = APR / 12 (a monthly rate), n = term in months;
//! - monthly payment = P · r / (1 − (1 + r)^−n), or P / n when the APR is zero; rounded half up.
//!
//! # Lease (depreciation + rent charge + tax)
//! - adjusted capitalised cost = price + acquisition/dealer fees − down (cap cost reduction);
//! - residual = price × residual percentage, rounded to the cent;
//! - depreciation = (cap cost − residual) / term; rent charge = (cap cost + residual) × money
//!   factor; the base payment = depreciation + rent charge, rounded half up;
//! - monthly tax = base payment × tax rate, rounded half up (tax on the monthly payment, as
//!   most US states tax leases); monthly payment = base + monthly tax;
//! - due at signing = down + the first monthly payment.

use serde::{Deserialize, Serialize};

/// Finance or lease.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum PaymentKind {
    /// A retail installment loan.
    #[default]
    Finance,
    /// A closed-end lease.
    Lease,
}

impl PaymentKind {
    /// The wire name (also the ADF `<method>`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Finance => "finance",
            Self::Lease => "lease",
        }
    }
}

/// A rooftop's rates (its default, or one make's, which replaces the default as a whole).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Rates {
    /// Finance APR in basis points (`690` = 6.90 %), 0 to 4000.
    pub finance_apr_bp: i32,
    /// Finance term in months, 1 to 96.
    pub finance_term_months: i32,
    /// Default finance down payment, cents.
    pub finance_down_cents: i64,
    /// Dealer (documentary) fees added to a financed price, cents.
    pub finance_fees_cents: i64,
    /// Sales tax rate in basis points (`725` = 7.25 %), 0 to 2500; finance and lease.
    pub tax_rate_bp: i32,
    /// Lease money factor in millionths (`1250` = 0.00125), 0 to 10000.
    pub lease_money_factor_millionths: i32,
    /// Lease residual in basis points of the price (`5800` = 58 %), 100 to 10000.
    pub lease_residual_bp: i32,
    /// Lease term in months, 12 to 60.
    pub lease_term_months: i32,
    /// Acquisition and dealer fees capitalised into a lease, cents.
    pub lease_fees_cents: i64,
    /// Default lease down payment (cap cost reduction), cents.
    pub lease_down_cents: i64,
}

/// What to compute: the kind, and what the asker may change (absent: the rates' defaults).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct EstimateAsk {
    /// Finance (default) or lease.
    #[serde(default)]
    pub kind: PaymentKind,
    /// The price in cents (absent: the chat's vehicle's price).
    #[serde(default)]
    pub price_cents: Option<i64>,
    /// The down payment in cents (absent: the rates' default for the kind).
    #[serde(default)]
    pub down_cents: Option<i64>,
    /// The term in months (absent: the rates' term for the kind).
    #[serde(default)]
    pub term_months: Option<i32>,
}

/// An estimate as computed, shown and stored: on a chat message (the card), with the chat, in
/// the lead.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PaymentEstimate {
    /// Finance or lease.
    pub kind: PaymentKind,
    /// ISO 4217 currency of every amount (the rooftop's).
    pub currency: String,
    /// The price, cents.
    pub price_cents: i64,
    /// The down payment (cap cost reduction for a lease), cents.
    pub down_cents: i64,
    /// Fees included (dealer fees; a lease's acquisition fees), cents.
    pub fees_cents: i64,
    /// Term in months.
    pub term_months: i32,
    /// Finance: the APR in basis points.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apr_bp: Option<i32>,
    /// Lease: the money factor in millionths.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub money_factor_millionths: Option<i32>,
    /// Lease: the residual value, cents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub residual_cents: Option<i64>,
    /// The tax rate in basis points.
    pub tax_rate_bp: i32,
    /// Tax: finance, the sales tax financed; lease, the tax in each monthly payment; cents.
    pub tax_cents: i64,
    /// Finance: the amount financed, cents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount_financed_cents: Option<i64>,
    /// Lease: due at signing (down + first payment), cents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_at_signing_cents: Option<i64>,
    /// The monthly payment, cents.
    pub monthly_cents: i64,
    /// The dealer's disclaimer, shown with the figures.
    pub disclaimer: String,
}

/// Why an estimate cannot be computed; [`PaymentError::field`] names the request's field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PaymentError {
    /// No price was given and the vehicle has none.
    #[error("no price: the vehicle has none and none was given")]
    NoPrice,
    /// The price is out of range.
    #[error("the price must be between 1 and 10 000 000 (in cents: 100 to 1 000 000 000)")]
    Price,
    /// The down payment is negative, or covers everything.
    #[error("the down payment must be at least 0 and less than what is financed")]
    Down,
    /// The term is out of range for the kind.
    #[error("the term must be 1 to 96 months to finance, 12 to 60 to lease")]
    Term,
    /// A rate or fee of the settings is out of range.
    #[error("{0} is out of range")]
    Rate(&'static str),
}

impl PaymentError {
    /// The request field the error is about.
    pub fn field(&self) -> &'static str {
        match self {
            Self::NoPrice | Self::Price => "price_cents",
            Self::Down => "down_cents",
            Self::Term => "term_months",
            Self::Rate(f) => f,
        }
    }
}

/// Highest price, in cents (ten million of the currency).
pub const MAX_PRICE_CENTS: i64 = 1_000_000_000;

impl Rates {
    /// Checks every rate and fee; the error names the first wrong field.
    pub fn check(&self) -> Result<(), PaymentError> {
        let money = |v: i64| (0..=MAX_PRICE_CENTS).contains(&v);
        let checks: [(bool, &'static str); 10] = [
            ((0..=4000).contains(&self.finance_apr_bp), "finance_apr_bp"),
            (
                (1..=96).contains(&self.finance_term_months),
                "finance_term_months",
            ),
            (money(self.finance_down_cents), "finance_down_cents"),
            (money(self.finance_fees_cents), "finance_fees_cents"),
            ((0..=2500).contains(&self.tax_rate_bp), "tax_rate_bp"),
            (
                (0..=10_000).contains(&self.lease_money_factor_millionths),
                "lease_money_factor_millionths",
            ),
            (
                (100..=10_000).contains(&self.lease_residual_bp),
                "lease_residual_bp",
            ),
            (
                (12..=60).contains(&self.lease_term_months),
                "lease_term_months",
            ),
            (money(self.lease_fees_cents), "lease_fees_cents"),
            (money(self.lease_down_cents), "lease_down_cents"),
        ];
        match checks.into_iter().find(|(ok, _)| !ok) {
            Some((_, field)) => Err(PaymentError::Rate(field)),
            None => Ok(()),
        }
    }
}

/// `cents` × `bp` / 10 000, rounded half up (amounts are never negative here).
pub fn mul_bp(cents: i64, bp: i32) -> i64 {
    let p = i128::from(cents) * i128::from(bp);
    ((p + 5_000).div_euclid(10_000)) as i64
}

/// An `f64` of cents rounded half up to a whole cent.
fn round_cents(x: f64) -> i64 {
    (x + 0.5).floor() as i64
}

/// Computes an estimate from `rates` for `ask`; `vehicle_price_cents` is the chat's vehicle's
/// price, used when the ask names none.
pub fn estimate(
    rates: &Rates,
    ask: &EstimateAsk,
    vehicle_price_cents: Option<i64>,
    currency: &str,
    disclaimer: &str,
) -> Result<PaymentEstimate, PaymentError> {
    rates.check()?;
    let price = ask
        .price_cents
        .or(vehicle_price_cents)
        .ok_or(PaymentError::NoPrice)?;
    if !(100..=MAX_PRICE_CENTS).contains(&price) {
        return Err(PaymentError::Price);
    }
    let base = PaymentEstimate {
        kind: ask.kind,
        currency: currency.to_string(),
        price_cents: price,
        down_cents: 0,
        fees_cents: 0,
        term_months: 0,
        apr_bp: None,
        money_factor_millionths: None,
        residual_cents: None,
        tax_rate_bp: rates.tax_rate_bp,
        tax_cents: 0,
        amount_financed_cents: None,
        due_at_signing_cents: None,
        monthly_cents: 0,
        disclaimer: disclaimer.to_string(),
    };
    match ask.kind {
        PaymentKind::Finance => {
            let n = ask.term_months.unwrap_or(rates.finance_term_months);
            if !(1..=96).contains(&n) {
                return Err(PaymentError::Term);
            }
            let down = ask.down_cents.unwrap_or(rates.finance_down_cents);
            let fees = rates.finance_fees_cents;
            let tax = mul_bp(price + fees, rates.tax_rate_bp);
            let financed = price + fees + tax - down;
            if down < 0 || financed <= 0 {
                return Err(PaymentError::Down);
            }
            Ok(PaymentEstimate {
                down_cents: down,
                fees_cents: fees,
                term_months: n,
                apr_bp: Some(rates.finance_apr_bp),
                tax_cents: tax,
                amount_financed_cents: Some(financed),
                monthly_cents: amortized(financed, rates.finance_apr_bp, n),
                ..base
            })
        }
        PaymentKind::Lease => {
            let n = ask.term_months.unwrap_or(rates.lease_term_months);
            if !(12..=60).contains(&n) {
                return Err(PaymentError::Term);
            }
            let down = ask.down_cents.unwrap_or(rates.lease_down_cents);
            let fees = rates.lease_fees_cents;
            let cap = price + fees - down;
            let residual = mul_bp(price, rates.lease_residual_bp);
            if down < 0 || cap <= residual {
                return Err(PaymentError::Down);
            }
            let mf = f64::from(rates.lease_money_factor_millionths) / 1e6;
            let depreciation = (cap - residual) as f64 / f64::from(n);
            let rent = (cap + residual) as f64 * mf;
            let base_payment = round_cents(depreciation + rent);
            let tax = mul_bp(base_payment, rates.tax_rate_bp);
            let monthly = base_payment + tax;
            Ok(PaymentEstimate {
                down_cents: down,
                fees_cents: fees,
                term_months: n,
                money_factor_millionths: Some(rates.lease_money_factor_millionths),
                residual_cents: Some(residual),
                tax_cents: tax,
                due_at_signing_cents: Some(down + monthly),
                monthly_cents: monthly,
                ..base
            })
        }
    }
}

/// The level monthly payment that repays `principal` cents in `n` months at `apr_bp`:
/// P·r / (1 − (1 + r)^−n) with r = APR / 12, or P / n at 0 %; rounded half up at the end.
pub fn amortized(principal: i64, apr_bp: i32, n: i32) -> i64 {
    let p = principal as f64;
    if apr_bp == 0 {
        return round_cents(p / f64::from(n));
    }
    let r = f64::from(apr_bp) / 10_000.0 / 12.0;
    round_cents(p * r / (1.0 - (1.0 + r).powi(-n)))
}

/// `cents` written as an amount (`30,000.00`; the currency code after it when not USD:
/// `$30,000.00`).
pub fn money(cents: i64, currency: &str) -> String {
    let whole = (cents / 100).to_string();
    let digits: Vec<char> = whole.chars().collect();
    let groups: Vec<String> = digits
        .rchunks(3)
        .rev()
        .map(|g| g.iter().collect())
        .collect();
    let grouped = groups.join(",");
    let amount = format!("{grouped}.{:02}", cents % 100);
    if currency == "USD" {
        format!("${amount}")
    } else {
        format!("{amount} {currency}")
    }
}

impl PaymentEstimate {
    /// The estimate as text, for whatever reads only text (the transcript e-mail, the
    /// download, notices): English, or Spanish with `spanish`.
    pub fn text(&self, spanish: bool) -> String {
        let m = |c| money(c, &self.currency);
        let pct = |bp: i32| format!("{}.{:02}%", bp / 100, bp % 100);
        let mut s = match (self.kind, spanish) {
            (PaymentKind::Finance, false) => format!(
                "Estimated payment (finance): {}/month for {} months, {} down, {} APR, price {}.",
                m(self.monthly_cents),
                self.term_months,
                m(self.down_cents),
                pct(self.apr_bp.unwrap_or(0)),
                m(self.price_cents)
            ),
            (PaymentKind::Finance, true) => format!(
                "Pago estimado (financiamiento): {}/mes por {} meses, {} de enganche, {} APR, precio {}.",
                m(self.monthly_cents),
                self.term_months,
                m(self.down_cents),
                pct(self.apr_bp.unwrap_or(0)),
                m(self.price_cents)
            ),
            (PaymentKind::Lease, false) => format!(
                "Estimated payment (lease): {}/month for {} months, {} due at signing, price {}.",
                m(self.monthly_cents),
                self.term_months,
                m(self.due_at_signing_cents.unwrap_or(0)),
                m(self.price_cents)
            ),
            (PaymentKind::Lease, true) => format!(
                "Pago estimado (arrendamiento): {}/mes por {} meses, {} a la firma, precio {}.",
                m(self.monthly_cents),
                self.term_months,
                m(self.due_at_signing_cents.unwrap_or(0)),
                m(self.price_cents)
            ),
        };
        if !self.disclaimer.trim().is_empty() {
            s.push(' ');
            s.push_str(self.disclaimer.trim());
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rates() -> Rates {
        Rates {
            finance_apr_bp: 690,
            finance_term_months: 60,
            finance_down_cents: 300_000,
            finance_fees_cents: 0,
            tax_rate_bp: 0,
            lease_money_factor_millionths: 1250,
            lease_residual_bp: 5800,
            lease_term_months: 36,
            lease_fees_cents: 69_500,
            lease_down_cents: 200_000,
        }
    }

    fn finance(price: i64) -> EstimateAsk {
        EstimateAsk {
            price_cents: Some(price),
            ..Default::default()
        }
    }

    /// $30,000 at 6.9 % APR for 60 months, $3,000 down, no fees, no tax:
    /// P = 27,000.00; r = 0.069 / 12 = 0.00575; (1.00575)^60 = 1.41059…;
    /// 27,000 × 0.00575 / (1 − 1.00575^−60) = 533.3594… → $533.36.
    #[test]
    fn finance_worked_example() {
        let e = estimate(&rates(), &finance(3_000_000), None, "USD", "").unwrap();
        assert_eq!(e.amount_financed_cents, Some(2_700_000));
        assert_eq!(e.monthly_cents, 53_336);
        assert_eq!(e.tax_cents, 0);
        assert_eq!(
            e.text(false),
            "Estimated payment (finance): $533.36/month for 60 months, $3,000.00 down, 6.90% APR, price $30,000.00."
        );
    }

    /// The same car with $499 of dealer fees and 7 % tax on price and fees:
    /// tax = 30,499 × 0.07 = 2,134.93; P = 30,000 + 499 + 2,134.93 − 3,000 = 29,633.93;
    /// 29,633.93 × 0.00575 / (1 − 1.00575^−60) = 585.3902… → $585.39.
    #[test]
    fn finance_with_fees_and_tax() {
        let r = Rates {
            finance_fees_cents: 49_900,
            tax_rate_bp: 700,
            ..rates()
        };
        let e = estimate(&r, &finance(3_000_000), None, "USD", "").unwrap();
        assert_eq!(e.tax_cents, 213_493);
        assert_eq!(e.amount_financed_cents, Some(2_963_393));
        assert_eq!(e.monthly_cents, 58_539);
    }

    /// 0 % APR: P / n. $27,000 / 60 = $450.00 exactly; $25,000 / 72 = 347.2222… → $347.22.
    #[test]
    fn zero_apr_divides() {
        let r = Rates {
            finance_apr_bp: 0,
            ..rates()
        };
        let e = estimate(&r, &finance(3_000_000), None, "USD", "").unwrap();
        assert_eq!(e.monthly_cents, 45_000);
        let ask = EstimateAsk {
            down_cents: Some(500_000),
            term_months: Some(72),
            ..finance(3_000_000)
        };
        assert_eq!(
            estimate(&r, &ask, None, "USD", "").unwrap().monthly_cents,
            34_722
        );
    }

    /// Lease of a $30,000 car, $695 acquisition fee, $2,000 down, MF 0.00125, residual 58 %,
    /// 36 months, 7 % tax:
    /// cap cost = 30,000 + 695 − 2,000 = 28,695; residual = 30,000 × 0.58 = 17,400;
    /// depreciation = (28,695 − 17,400) / 36 = 313.75; rent = (28,695 + 17,400) × 0.00125 =
    /// 57.61875; base = 371.36875 → 371.37; tax = 371.37 × 0.07 = 25.9959 → 26.00;
    /// monthly = 397.37; due at signing = 2,000 + 397.37 = 2,397.37.
    #[test]
    fn lease_worked_example() {
        let r = Rates {
            tax_rate_bp: 700,
            ..rates()
        };
        let ask = EstimateAsk {
            kind: PaymentKind::Lease,
            ..finance(3_000_000)
        };
        let e = estimate(&r, &ask, None, "USD", "Estimate only.").unwrap();
        assert_eq!(e.residual_cents, Some(1_740_000));
        assert_eq!(e.tax_cents, 2_600);
        assert_eq!(e.monthly_cents, 39_737);
        assert_eq!(e.due_at_signing_cents, Some(239_737));
        assert_eq!(e.term_months, 36);
        assert!(
            e.text(true)
                .starts_with("Pago estimado (arrendamiento): $397.37/mes por 36 meses")
        );
        assert!(e.text(false).ends_with(" Estimate only."));
    }

    #[test]
    fn vehicle_price_is_the_default_and_half_up_rounding() {
        let ask = EstimateAsk::default();
        let e = estimate(&rates(), &ask, Some(3_000_000), "USD", "").unwrap();
        assert_eq!(e.price_cents, 3_000_000);
        assert_eq!(mul_bp(5, 5000), 3); // 2.5 cents → 3
        assert_eq!(mul_bp(4, 5000), 2);
        assert_eq!(money(123_456_789, "MXN"), "1,234,567.89 MXN");
        assert_eq!(money(5, "USD"), "$0.05");
    }

    #[test]
    fn bad_inputs_are_refused_by_name() {
        let r = rates();
        assert_eq!(
            estimate(&r, &EstimateAsk::default(), None, "USD", ""),
            Err(PaymentError::NoPrice)
        );
        assert_eq!(
            estimate(&r, &finance(0), None, "USD", "")
                .unwrap_err()
                .field(),
            "price_cents"
        );
        let too_much_down = EstimateAsk {
            down_cents: Some(3_000_000),
            ..finance(3_000_000)
        };
        assert_eq!(
            estimate(&r, &too_much_down, None, "USD", ""),
            Err(PaymentError::Down)
        );
        let negative = EstimateAsk {
            down_cents: Some(-1),
            ..finance(3_000_000)
        };
        assert_eq!(
            estimate(&r, &negative, None, "USD", ""),
            Err(PaymentError::Down)
        );
        let long = EstimateAsk {
            term_months: Some(97),
            ..finance(3_000_000)
        };
        assert_eq!(
            estimate(&r, &long, None, "USD", ""),
            Err(PaymentError::Term)
        );
        let short_lease = EstimateAsk {
            kind: PaymentKind::Lease,
            term_months: Some(6),
            ..finance(3_000_000)
        };
        assert_eq!(
            estimate(&r, &short_lease, None, "USD", "")
                .unwrap_err()
                .field(),
            "term_months"
        );
        let bad = Rates {
            lease_residual_bp: 0,
            ..rates()
        };
        assert_eq!(bad.check(), Err(PaymentError::Rate("lease_residual_bp")));
        let bad = Rates {
            finance_apr_bp: -1,
            ..rates()
        };
        assert_eq!(
            estimate(&bad, &finance(3_000_000), None, "USD", "")
                .unwrap_err()
                .field(),
            "finance_apr_bp"
        );
    }
}
