//! Kubernetes quantity library: `quantity`, `isQuantity`, and on quantities
//! `isInteger`, `asInteger`, `asApproximateFloat`, `sign`, `add`, `sub`,
//! `compareTo`, `isGreaterThan`, `isLessThan`.
//!
//! A quantity is kept exactly as `mantissa × 10^exponent` (binary suffixes
//! are multiplied out, `1Ki` = 1024), which is enough for the comparisons
//! and sums policies do, without Kubernetes' `inf.Dec`.

use std::cmp::Ordering;
use std::sync::Arc;

use cel::common::types::{INT_TYPE, STRING_TYPE, Type};
use cel::objects::Opaque;
use cel::{ExecutionError, Value};

use super::{Arg, Direct, Registrar, cow_str_arg, fail, opaque_arg, str_arg, value_fn};

const TYPE_NAME: &str = "kubernetes.Quantity";

/// An exact quantity: `mantissa × 10^exponent`, normalised so the
/// mantissa has no trailing zeros (so equal quantities compare equal).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quantity {
    mantissa: i128,
    exponent: i32,
}

impl Opaque for Quantity {
    fn runtime_type_name(&self) -> &str {
        TYPE_NAME
    }
}

impl Quantity {
    fn new(mut mantissa: i128, mut exponent: i32) -> Quantity {
        if mantissa == 0 {
            return Quantity {
                mantissa: 0,
                exponent: 0,
            };
        }
        while mantissa % 10 == 0 {
            mantissa /= 10;
            exponent += 1;
        }
        Quantity { mantissa, exponent }
    }

    /// Parses the Kubernetes quantity syntax: a signed decimal number and
    /// an optional suffix (`Ki`…`Ei`, `n`, `u`, `m`, `k`, `M`…`E`, or
    /// `e`/`E` followed by an exponent).
    pub fn parse(s: &str) -> Result<Quantity, String> {
        let bad = || {
            format!(
                "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$': {s:?}"
            )
        };
        let num_end = s
            .char_indices()
            .find(|&(i, c)| !(c.is_ascii_digit() || c == '.' || (i == 0 && (c == '+' || c == '-'))))
            .map_or(s.len(), |(i, _)| i);
        let (number, suffix) = s.split_at(num_end);
        let (negative, digits) = match number.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, number.strip_prefix('+').unwrap_or(number)),
        };
        let (int_part, frac_part) = digits.split_once('.').unwrap_or((digits, ""));
        if (int_part.is_empty() && frac_part.is_empty()) || frac_part.contains('.') {
            return Err(bad());
        }
        let mut mantissa: i128 = 0;
        for c in int_part.chars().chain(frac_part.chars()) {
            let d = c.to_digit(10).ok_or_else(bad)?;
            mantissa = mantissa
                .checked_mul(10)
                .and_then(|m| m.checked_add(d as i128))
                .ok_or_else(bad)?;
        }
        let mut exponent = -(frac_part.len() as i32);
        match suffix {
            "" => {}
            "Ki" | "Mi" | "Gi" | "Ti" | "Pi" | "Ei" => {
                let power = match suffix {
                    "Ki" => 10,
                    "Mi" => 20,
                    "Gi" => 30,
                    "Ti" => 40,
                    "Pi" => 50,
                    _ => 60,
                };
                mantissa = mantissa.checked_mul(1i128 << power).ok_or_else(bad)?;
            }
            "n" => exponent -= 9,
            "u" => exponent -= 6,
            "m" => exponent -= 3,
            "k" => exponent += 3,
            "M" => exponent += 6,
            "G" => exponent += 9,
            "T" => exponent += 12,
            "P" => exponent += 15,
            "E" => exponent += 18,
            _ => {
                let e = suffix.strip_prefix(['e', 'E']).ok_or_else(bad)?;
                let e: i32 = e.parse().map_err(|_| bad())?;
                exponent = exponent.checked_add(e).ok_or_else(bad)?;
            }
        }
        if negative {
            mantissa = -mantissa;
        }
        Ok(Quantity::new(mantissa, exponent))
    }

    fn as_f64(&self) -> f64 {
        self.mantissa as f64 * 10f64.powi(self.exponent)
    }

    /// The mantissas of `self` and `other` scaled to a common exponent.
    fn aligned(&self, other: &Quantity) -> Option<(i128, i128, i32)> {
        let e = self.exponent.min(other.exponent);
        let scale = |q: &Quantity| {
            10i128
                .checked_pow(u32::try_from(q.exponent - e).ok()?)
                .and_then(|p| q.mantissa.checked_mul(p))
        };
        Some((scale(self)?, scale(other)?, e))
    }

    fn compare(&self, other: &Quantity) -> Ordering {
        match self.aligned(other) {
            Some((a, b, _)) => a.cmp(&b),
            None => self
                .as_f64()
                .partial_cmp(&other.as_f64())
                .unwrap_or(Ordering::Equal),
        }
    }

    fn plus(&self, other: &Quantity) -> Result<Quantity, ExecutionError> {
        let (a, b, e) = self
            .aligned(other)
            .ok_or_else(|| fail("add", "quantity overflow"))?;
        Ok(Quantity::new(
            a.checked_add(b)
                .ok_or_else(|| fail("add", "quantity overflow"))?,
            e,
        ))
    }

    fn integer(&self) -> Option<i64> {
        if self.exponent < 0 {
            return None;
        }
        let v = 10i128
            .checked_pow(self.exponent as u32)?
            .checked_mul(self.mantissa)?;
        i64::try_from(v).ok()
    }
}

fn t() -> Type {
    Type::new_opaque_type(TYPE_NAME)
}

pub(super) fn register(r: &mut Registrar<'_>) {
    r.global("quantity", vec![STRING_TYPE], quantity_fn);
    r.global("isQuantity", vec![STRING_TYPE], is_quantity_fn);
    r.member("isInteger", t(), vec![], is_integer_fn);
    r.member("asInteger", t(), vec![], as_integer_fn);
    r.member("asApproximateFloat", t(), vec![], as_float_fn);
    r.member("sign", t(), vec![], sign_fn);
    r.member("add", t(), vec![t()], add_fn);
    r.member("add", t(), vec![INT_TYPE], add_fn);
    r.member("sub", t(), vec![t()], sub_fn);
    r.member("sub", t(), vec![INT_TYPE], sub_fn);
    r.member("compareTo", t(), vec![t()], compare_fn);
    r.member("isGreaterThan", t(), vec![t()], greater_fn);
    r.member("isLessThan", t(), vec![t()], less_fn);
}

fn quantity_value(q: Quantity) -> Value {
    Value::Opaque(Arc::new(q))
}

fn this(function: &str, a: &[Value]) -> Result<Quantity, ExecutionError> {
    opaque_arg::<Quantity>(function, a, 0).copied()
}

/// The second argument: a quantity or an int.
fn other(function: &str, a: &[Value]) -> Result<Quantity, ExecutionError> {
    match a.get(1) {
        Some(Value::Int(i)) => Ok(Quantity::new(*i as i128, 0)),
        _ => opaque_arg::<Quantity>(function, a, 1).copied(),
    }
}

/// `quantity(s)`, reading the string in place: policies call it per
/// container, and [`super::adapt`] would copy the string first.
fn quantity_fn<'b, 'v>(
    args: Vec<cel::common::value::CowVal<'b, 'v>>,
) -> Result<cel::common::value::CowVal<'b, 'v>, ExecutionError> {
    let q = Quantity::parse(cow_str_arg("quantity", &args, 0)?).map_err(|e| fail("quantity", e))?;
    let boxed: Box<dyn cel::common::value::Val> = quantity_value(q).try_into()?;
    Ok(cel::common::value::CowVal::Owned(boxed))
}
value_fn!(is_quantity_fn, is_quantity);
value_fn!(is_integer_fn, is_integer);
value_fn!(as_integer_fn, as_integer);
value_fn!(as_float_fn, as_float);
value_fn!(sign_fn, sign);
value_fn!(add_fn, add);
value_fn!(sub_fn, sub);
value_fn!(compare_fn, compare_to);
value_fn!(greater_fn, is_greater_than);
value_fn!(less_fn, is_less_than);

/// The functions the compiled evaluator calls directly (see
/// [`super::Direct`]), with the overloads [`register`] declares.
pub(super) const DIRECT: &[Direct] = &[
    Direct::global("quantity", &[Arg::String], quantity),
    Direct::global("isQuantity", &[Arg::String], is_quantity),
    Direct::member("isInteger", &[Q], is_integer),
    Direct::member("asInteger", &[Q], as_integer),
    Direct::member("asApproximateFloat", &[Q], as_float),
    Direct::member("sign", &[Q], sign),
    Direct::member("add", &[Q, Q], add),
    Direct::member("add", &[Q, Arg::Int], add),
    Direct::member("sub", &[Q, Q], sub),
    Direct::member("sub", &[Q, Arg::Int], sub),
    Direct::member("compareTo", &[Q, Q], compare_to),
    Direct::member("isGreaterThan", &[Q, Q], is_greater_than),
    Direct::member("isLessThan", &[Q, Q], is_less_than),
];

const Q: Arg = Arg::Opaque(TYPE_NAME);

fn quantity(a: &[Value]) -> Result<Value, ExecutionError> {
    let q = Quantity::parse(str_arg("quantity", a, 0)?).map_err(|e| fail("quantity", e))?;
    Ok(quantity_value(q))
}

fn is_quantity(a: &[Value]) -> Result<Value, ExecutionError> {
    Ok(Value::Bool(
        Quantity::parse(str_arg("isQuantity", a, 0)?).is_ok(),
    ))
}

fn is_integer(a: &[Value]) -> Result<Value, ExecutionError> {
    Ok(Value::Bool(this("isInteger", a)?.integer().is_some()))
}

fn as_integer(a: &[Value]) -> Result<Value, ExecutionError> {
    this("asInteger", a)?
        .integer()
        .map(Value::Int)
        .ok_or_else(|| fail("asInteger", "cannot convert value to integer"))
}

fn as_float(a: &[Value]) -> Result<Value, ExecutionError> {
    Ok(Value::Float(this("asApproximateFloat", a)?.as_f64()))
}

fn sign(a: &[Value]) -> Result<Value, ExecutionError> {
    Ok(Value::Int(this("sign", a)?.mantissa.signum() as i64))
}

fn add(a: &[Value]) -> Result<Value, ExecutionError> {
    Ok(quantity_value(this("add", a)?.plus(&other("add", a)?)?))
}

fn sub(a: &[Value]) -> Result<Value, ExecutionError> {
    let o = other("sub", a)?;
    Ok(quantity_value(
        this("sub", a)?.plus(&Quantity::new(-o.mantissa, o.exponent))?,
    ))
}

fn compare_to(a: &[Value]) -> Result<Value, ExecutionError> {
    Ok(Value::Int(
        match this("compareTo", a)?.compare(&other("compareTo", a)?) {
            Ordering::Less => -1,
            Ordering::Equal => 0,
            Ordering::Greater => 1,
        },
    ))
}

fn is_greater_than(a: &[Value]) -> Result<Value, ExecutionError> {
    Ok(Value::Bool(
        this("isGreaterThan", a)?.compare(&other("isGreaterThan", a)?) == Ordering::Greater,
    ))
}

fn is_less_than(a: &[Value]) -> Result<Value, ExecutionError> {
    Ok(Value::Bool(
        this("isLessThan", a)?.compare(&other("isLessThan", a)?) == Ordering::Less,
    ))
}

#[cfg(test)]
mod tests {
    use super::Quantity;

    #[test]
    fn binary_and_decimal_suffixes_compare_by_value() {
        let gi = Quantity::parse("1Gi").unwrap();
        let g = Quantity::parse("1G").unwrap();
        assert_eq!(gi.integer(), Some(1_073_741_824));
        assert_eq!(g.integer(), Some(1_000_000_000));
        assert!(gi.compare(&g).is_gt());
        assert_eq!(
            Quantity::parse("500m").unwrap(),
            Quantity::parse("0.5").unwrap()
        );
        assert_eq!(
            Quantity::parse("1e3").unwrap(),
            Quantity::parse("1k").unwrap()
        );
    }

    #[test]
    fn malformed_quantities_are_rejected() {
        for bad in ["", "abc", "1.2.3", "1Xi", "--1", "1e"] {
            assert!(Quantity::parse(bad).is_err(), "{bad}");
        }
    }
}
