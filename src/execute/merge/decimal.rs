//! Exact decimal arithmetic on the text values MySQL sends (`-123.4500`), so sums and
//! averages of DECIMAL and integer columns match the server digit for digit. i128 holds 38
//! digits; beyond that the merge refuses instead of rounding.

use std::cmp::Ordering;

/// A value `units / 10^scale`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dec {
    pub units: i128,
    pub scale: u32,
}

impl Dec {
    pub fn parse(text: &[u8]) -> Option<Dec> {
        let s = std::str::from_utf8(text).ok()?.trim();
        let (neg, digits) = match s.as_bytes().first()? {
            b'-' => (true, &s[1..]),
            b'+' => (false, &s[1..]),
            _ => (false, s),
        };
        let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
        if int.is_empty() && frac.is_empty() {
            return None;
        }
        if !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
            return None;
        }
        let mut units: i128 = 0;
        for b in int.bytes().chain(frac.bytes()) {
            units = units.checked_mul(10)?.checked_add(i128::from(b - b'0'))?;
        }
        Some(Dec {
            units: if neg { -units } else { units },
            scale: u32::try_from(frac.len()).ok()?,
        })
    }

    pub fn rescale(self, scale: u32) -> Option<Dec> {
        if scale >= self.scale {
            let f = 10i128.checked_pow(scale - self.scale)?;
            Some(Dec {
                units: self.units.checked_mul(f)?,
                scale,
            })
        } else {
            None
        }
    }

    pub fn checked_add(self, other: Dec) -> Option<Dec> {
        let scale = self.scale.max(other.scale);
        let (a, b) = (self.rescale(scale)?, other.rescale(scale)?);
        Some(Dec {
            units: a.units.checked_add(b.units)?,
            scale,
        })
    }

    pub fn cmp_exact(self, other: Dec) -> Option<Ordering> {
        let scale = self.scale.max(other.scale);
        Some(self.rescale(scale)?.units.cmp(&other.rescale(scale)?.units))
    }

    /// `self / n` at `scale` digits, rounded half away from zero as MySQL's DECIMAL does.
    pub fn div_int(self, n: i128, scale: u32) -> Option<Dec> {
        if n == 0 {
            return None;
        }
        let num = self.rescale(scale.max(self.scale))?;
        // Bring to `scale` + 1 digits then round the last away from zero.
        let extra = scale + 1;
        let num = if extra >= num.scale {
            num.units
                .checked_mul(10i128.checked_pow(extra - num.scale)?)?
        } else {
            return None;
        };
        let q = num / n;
        let rounded = if q >= 0 { (q + 5) / 10 } else { (q - 5) / 10 };
        Some(Dec {
            units: rounded,
            scale,
        })
    }

    pub fn to_text(self) -> String {
        let neg = self.units < 0;
        let digits = self.units.unsigned_abs().to_string();
        let scale = self.scale as usize;
        let mut out = String::new();
        if neg {
            out.push('-');
        }
        if scale == 0 {
            out.push_str(&digits);
        } else if digits.len() > scale {
            out.push_str(&digits[..digits.len() - scale]);
            out.push('.');
            out.push_str(&digits[digits.len() - scale..]);
        } else {
            out.push_str("0.");
            out.push_str(&"0".repeat(scale - digits.len()));
            out.push_str(&digits);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Dec {
        Dec::parse(s.as_bytes()).unwrap()
    }

    #[test]
    fn sums_and_averages_exactly() {
        assert_eq!(
            d("1.250").checked_add(d("-3.5")).unwrap().to_text(),
            "-2.250"
        );
        assert_eq!(d("10").div_int(3, 4).unwrap().to_text(), "3.3333");
        assert_eq!(d("2").div_int(3, 4).unwrap().to_text(), "0.6667");
        assert_eq!(d("-2").div_int(3, 4).unwrap().to_text(), "-0.6667");
        assert_eq!(d("0.005").div_int(1, 7).unwrap().to_text(), "0.0050000");
        assert_eq!(d("-0.5").to_text(), "-0.5");
        assert_eq!(d("9").cmp_exact(d("10.0")), Some(Ordering::Less));
        assert!(Dec::parse(b"1e5").is_none());
    }
}
