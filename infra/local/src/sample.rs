//! A realistic sample book, generated reproducibly from a seed: bill cycle days 1–31,
//! five currencies (USD, EUR, GBP, JPY, KWD), monthly / quarterly / semi-annual / annual
//! plans in advance and in arrears, seats, setup fees, usage, adjustments, churned
//! subscriptions billed past their cancellation (credit memos), free plans (zero
//! invoices), future starts (nothing to bill) and a few accounts with a charge in the
//! wrong currency (failed with a reason).

use billrun_domain::book::*;
use billrun_domain::calendar::{BillCycleDay, BillingPeriod, Grid};
use billrun_domain::ids::*;
use billrun_domain::money::Currency;
use chrono::{Days, NaiveDate};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rust_decimal::Decimal;

const PLANS: [(&str, &str, i64); 4] = [
    ("P-STARTER", "Starter plan", 1900),
    ("P-PRO", "Pro plan", 4900),
    ("P-TEAM", "Team plan", 12950),
    ("P-ENT", "Enterprise plan", 99900),
];

/// (code, weight in percent, conversion from USD cents as a decimal string)
const CURRENCIES: [(&str, u32, &str); 5] = [
    ("USD", 50, "0.01"),
    ("EUR", 20, "0.0092"),
    ("GBP", 15, "0.0079"),
    ("JPY", 10, "1.5"),
    ("KWD", 5, "0.00307"),
];

fn id<T>(parse: fn(String) -> Result<T, String>, s: String) -> T {
    // Generated ids are short ASCII without '#', so parsing cannot fail; fall back to a
    // fixed id rather than panic.
    match parse(s) {
        Ok(v) => v,
        Err(_) => match parse("invalid".to_string()) {
            Ok(v) => v,
            Err(_) => unreachable!("'invalid' is a valid id"),
        },
    }
}

fn days_before(d: NaiveDate, n: u64) -> NaiveDate {
    d.checked_sub_days(Days::new(n)).unwrap_or(d)
}

fn days_after(d: NaiveDate, n: u64) -> NaiveDate {
    d.checked_add_days(Days::new(n)).unwrap_or(d)
}

struct Gen {
    rng: StdRng,
    target: NaiveDate,
    book: Book,
    charge_seq: u64,
}

impl Gen {
    fn pick_currency(&mut self) -> (Currency, Decimal) {
        let mut roll = self.rng.random_range(0..100u32);
        for (code, weight, rate) in CURRENCIES {
            if roll < weight {
                return (
                    Currency::parse(code).unwrap_or_else(|_| usd()),
                    rate.parse().unwrap_or(Decimal::ONE),
                );
            }
            roll -= weight;
        }
        (usd(), Decimal::new(1, 2))
    }

    fn next_charge(&mut self) -> ChargeId {
        self.charge_seq += 1;
        id(ChargeId::parse, format!("C-{:07}", self.charge_seq))
    }

    fn price(&self, cents: i64, rate: Decimal, c: Currency) -> Decimal {
        c.round(Decimal::from(cents) * rate)
    }

    fn account(&mut self, n: usize) {
        let aid = id(AccountId::parse, format!("A-{n:07}"));
        let (currency, rate) = self.pick_currency();
        let bcd_day = self.rng.random_range(1..=31u8);
        let bcd = BillCycleDay::new(bcd_day).unwrap_or_else(|_| first_day());
        let tax = ["0", "0.0825", "0.07", "0.2", "0.19"][self.rng.random_range(0..5)];
        let terms = [0u32, 15, 30, 30, 45][self.rng.random_range(0..5)];
        let location = format!(
            "LOC-{}",
            ["AUS", "NYC", "BER", "LON", "TYO", "KWI"][self.rng.random_range(0..6)]
        );
        self.book.accounts.push(Account {
            id: aid.clone(),
            name: format!("Customer {n}"),
            currency,
            bill_cycle_day: bcd,
            batch: (n % 10 != 9).then(|| format!("Batch{}", n % 5 + 1)),
            payment_term_days: terms,
            payment_term_name: (terms > 0).then(|| format!("Net {terms}")),
            tax_rate: tax.parse().unwrap_or(Decimal::ZERO),
            bill_to: Some(Address {
                name: Some(format!("Customer {n} AP")),
                line1: Some(format!("{} Main St", n % 900 + 1)),
                line2: None,
                city: Some("Austin".into()),
                state: None,
                postal_code: Some("78701".into()),
                country: Some("US".into()),
                // Every seventh account has no address, so the demo shows a skip.
                email: (n % 7 != 6).then(|| format!("ap{n}@customer{n}.example.com")),
                cc_emails: vec![],
            }),
            ship_to: None,
            location_id: Some(location),
            subrun: None,
            gl_accounts: Default::default(),
        });
        let roll = self.rng.random_range(0..1000u32);
        let t = self.target;
        let mut sub_n = 0;
        let mut next_sub = |aid: &AccountId| {
            sub_n += 1;
            id(
                SubscriptionId::parse,
                format!("S-{}-{sub_n}", &aid.as_str()[2..]),
            )
        };
        if roll < 30 {
            // Churned: billed in advance past a cancellation entered later → credit memo.
            let period = if self.rng.random_bool(0.5) {
                BillingPeriod::Month
            } else {
                BillingPeriod::Annual
            };
            let start = days_before(t, self.rng.random_range(60..300));
            let (_, pe) = Grid::new(start, bcd, period).period_containing(t);
            let cancel = days_before(t, self.rng.random_range(1..25));
            let (pid, pname, cents) = PLANS[self.rng.random_range(0..PLANS.len())];
            let price = self.price(cents, rate, currency);
            let charge = Charge {
                id: self.next_charge(),
                currency: None,
                gl_account: None,
                kind: ChargeKind::Recurring {
                    price,
                    quantity: Decimal::ONE,
                    period,
                    timing: Timing::InAdvance,
                    billed_through: Some(pe),
                },
            };
            self.book.subscriptions.push(Subscription {
                id: next_sub(&aid),
                account_id: aid.clone(),
                product_id: pid.into(),
                product_name: Some(pname.into()),
                location_id: None,
                start_date: start.max(days_before(cancel, 30)),
                end_date: None,
                cancellation_date: Some(cancel),
                charges: vec![charge],
                term: None,
            });
            return;
        }
        if roll < 70 {
            // Free plan: a zero invoice (suppressed when the run asks).
            let charge = Charge {
                id: self.next_charge(),
                currency: None,
                gl_account: None,
                kind: ChargeKind::Recurring {
                    price: currency.zero(),
                    quantity: Decimal::ONE,
                    period: BillingPeriod::Month,
                    timing: Timing::InAdvance,
                    billed_through: None,
                },
            };
            self.book.subscriptions.push(Subscription {
                id: next_sub(&aid),
                account_id: aid.clone(),
                product_id: "P-FREE".into(),
                product_name: Some("Free plan".into()),
                location_id: None,
                start_date: days_before(t, self.rng.random_range(1..200)),
                end_date: None,
                cancellation_date: None,
                charges: vec![charge],
                term: None,
            });
            return;
        }
        let future = roll < 100;
        let bad_currency = (100..105).contains(&roll);
        let subs = self.rng.random_range(1..=3);
        for s in 0..subs {
            let (pid, pname, cents) = PLANS[self.rng.random_range(0..PLANS.len())];
            let period = match self.rng.random_range(0..20) {
                0..=11 => BillingPeriod::Month,
                12..=15 => BillingPeriod::Quarter,
                16 => BillingPeriod::SemiAnnual,
                _ => BillingPeriod::Annual,
            };
            let timing = if self.rng.random_bool(0.8) {
                Timing::InAdvance
            } else {
                Timing::InArrears
            };
            let start = if future {
                days_after(t, self.rng.random_range(5..60))
            } else {
                days_before(t, self.rng.random_range(0..420))
            };
            let termed = self.rng.random_bool(0.2);
            let seats = if self.rng.random_bool(0.3) {
                Decimal::from(self.rng.random_range(2..=25))
            } else {
                Decimal::ONE
            };
            // Most subscriptions were billed by earlier runs up to the period before T;
            // the rest are new to billing and catch up.
            let grid = Grid::new(start, bcd, period);
            let (previous_start, _) = grid.period_containing(days_before(t, 1));
            let billed_through =
                (previous_start > start && self.rng.random_bool(0.7)).then_some(previous_start);
            let mut charges = vec![Charge {
                id: self.next_charge(),
                currency: (bad_currency && s == 0).then(|| {
                    if currency.code() == "EUR" {
                        usd()
                    } else {
                        Currency::parse("EUR").unwrap_or_else(|_| usd())
                    }
                }),
                gl_account: None,
                kind: ChargeKind::Recurring {
                    price: self.price(cents, rate, currency),
                    quantity: seats,
                    period,
                    timing,
                    billed_through,
                },
            }];
            if self.rng.random_bool(0.25) {
                charges.push(Charge {
                    id: self.next_charge(),
                    currency: None,
                    gl_account: None,
                    kind: ChargeKind::OneTime {
                        price: self.price(9900, rate, currency),
                        quantity: Decimal::ONE,
                        charge_date: Some(start),
                        billed: false,
                    },
                });
            }
            let sid = next_sub(&aid);
            if self.rng.random_bool(0.3) {
                let cid = self.next_charge();
                let unit = ["0.05", "0.002", "0.125", "1.5"][self.rng.random_range(0..4)];
                charges.push(Charge {
                    id: cid.clone(),
                    currency: None,
                    gl_account: None,
                    kind: ChargeKind::Usage {
                        unit_price: self.price(0, rate, currency)
                            + unit.parse::<Decimal>().unwrap_or(Decimal::ONE),
                    },
                });
                for k in 0..self.rng.random_range(1..=6) {
                    let q = Decimal::new(self.rng.random_range(0..500_000), 2);
                    self.book.usage.push(UsageRecord {
                        id: id(UsageId::parse, format!("U-{}-{k}", cid.as_str())),
                        account_id: aid.clone(),
                        charge_id: cid.clone(),
                        date: days_after(days_before(t, 40), self.rng.random_range(0..46)),
                        quantity: q,
                        billed: false,
                    });
                }
            }
            self.book.subscriptions.push(Subscription {
                id: sid,
                account_id: aid.clone(),
                product_id: pid.into(),
                product_name: Some(pname.into()),
                location_id: self.rng.random_bool(0.2).then(|| "LOC-REMOTE".to_string()),
                start_date: start,
                end_date: termed.then(|| days_after(start, 365)),
                cancellation_date: None,
                charges,
                term: None,
            });
        }
        if self.rng.random_bool(0.1) {
            let minor = currency.minor_units();
            let amount = Decimal::new(
                -self.rng.random_range(100..5000) * 10i64.pow(minor),
                2 + minor,
            );
            self.book.adjustments.push(Adjustment {
                id: id(AdjustmentId::parse, format!("J-{}", &aid.as_str()[2..])),
                account_id: aid.clone(),
                date: days_after(days_before(t, 20), self.rng.random_range(0..30)),
                amount: currency.round(amount),
                description: Some("Goodwill credit".into()),
                billed: false,
            });
        }
    }
}

fn usd() -> Currency {
    match Currency::parse("USD") {
        Ok(c) => c,
        Err(_) => unreachable!("USD is in the ISO table"),
    }
}

fn first_day() -> BillCycleDay {
    match BillCycleDay::new(1) {
        Ok(d) => d,
        Err(_) => unreachable!("1 is a valid bill cycle day"),
    }
}

/// A book of `accounts` accounts around target date `target`, the same for the same seed.
pub fn generate(accounts: usize, target: NaiveDate, seed: u64) -> Book {
    let mut g = Gen {
        rng: StdRng::seed_from_u64(seed),
        target,
        book: Book::default(),
        charge_seq: 0,
    };
    for n in 1..=accounts {
        g.account(n);
    }
    g.book
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_books_are_valid_and_reproducible() {
        let t: NaiveDate = "2026-12-01".parse().unwrap();
        let a = generate(500, t, 7);
        a.validate().unwrap();
        let json = serde_json::to_vec(&a).unwrap();
        assert_eq!(Book::parse(&json).unwrap(), a, "the JSON round-trips");
        assert_eq!(generate(500, t, 7), a);
        assert_ne!(generate(500, t, 8), a);
    }
}
