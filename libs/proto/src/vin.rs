//! Vehicle identification numbers decoded offline: the check digit (ISO 3779 and 49 CFR 565:
//! the 9th character), the model year (10th character, with the 7th choosing the 30-year
//! cycle) and the make from a short table of world manufacturer identifiers.
//!
//! **Decision: written here, not taken from crates.io.** The crates that exist either call
//! NHTSA's online decoder or carry the whole vPIC database; what a trade-in needs is ~60 lines
//! of arithmetic and a table, with no I/O.

/// Why a VIN was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VinError {
    /// Not 17 characters.
    #[error("a VIN has 17 characters, this one has {0}")]
    Length(usize),
    /// A character no VIN has (I, O and Q never appear).
    #[error("`{0}` cannot be in a VIN (only A-Z without I, O, Q, and 0-9)")]
    Character(char),
    /// The 9th character is not what the other sixteen make it.
    #[error("the check digit (9th character) is {found}, the other characters make it {expected}")]
    CheckDigit {
        /// What the VIN has.
        found: char,
        /// What it should have.
        expected: char,
    },
}

/// What a VIN says about its vehicle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedVin {
    /// The VIN, upper case.
    pub vin: String,
    /// The model year, when the 10th character is a year code.
    pub year: Option<u16>,
    /// The make, when the manufacturer identifier is in [`WMI`].
    pub make: Option<&'static str>,
}

/// The weights of positions 1 to 17 (the 9th, the check digit itself, weighs 0).
const WEIGHTS: [u32; 17] = [8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2];

/// The year codes of the 10th character, 1980 (`A`) onward; 30 codes, then they repeat.
const YEARS: &str = "ABCDEFGHJKLMNPRSTVWXY123456789";

/// Well-known world manufacturer identifiers (the first characters of a VIN) and their make;
/// the longest matching prefix wins. Not exhaustive: a VIN not here decodes without a make.
pub const WMI: &[(&str, &str)] = &[
    ("1HG", "Honda"),
    ("2HG", "Honda"),
    ("5FN", "Honda"),
    ("5J6", "Honda"),
    ("JHM", "Honda"),
    ("JHL", "Honda"),
    ("19X", "Honda"),
    ("19U", "Acura"),
    ("JH4", "Acura"),
    ("1FA", "Ford"),
    ("1FT", "Ford"),
    ("1FM", "Ford"),
    ("1FD", "Ford"),
    ("3FA", "Ford"),
    ("1G1", "Chevrolet"),
    ("1GC", "Chevrolet"),
    ("1GN", "Chevrolet"),
    ("2G1", "Chevrolet"),
    ("3GN", "Chevrolet"),
    ("1GT", "GMC"),
    ("1GK", "GMC"),
    ("1C4", "Jeep"),
    ("1C6", "Ram"),
    ("JT", "Toyota"),
    ("4T", "Toyota"),
    ("5TD", "Toyota"),
    ("5TF", "Toyota"),
    ("2T", "Toyota"),
    ("JTH", "Lexus"),
    ("1N4", "Nissan"),
    ("1N6", "Nissan"),
    ("JN", "Nissan"),
    ("3N1", "Nissan"),
    ("KM8", "Hyundai"),
    ("5NP", "Hyundai"),
    ("KNA", "Kia"),
    ("KND", "Kia"),
    ("JF", "Subaru"),
    ("4S3", "Subaru"),
    ("4S4", "Subaru"),
    ("JM", "Mazda"),
    ("WBA", "BMW"),
    ("WBS", "BMW"),
    ("5UX", "BMW"),
    ("WDD", "Mercedes-Benz"),
    ("W1K", "Mercedes-Benz"),
    ("WAU", "Audi"),
    ("WVW", "Volkswagen"),
    ("3VW", "Volkswagen"),
    ("YV1", "Volvo"),
    ("5YJ", "Tesla"),
    ("7SA", "Tesla"),
];

/// A character's value in the check-digit sum (ISO 3779 transliteration); `None` for a
/// character no VIN may hold.
fn value(c: char) -> Option<u32> {
    Some(match c {
        '0'..='9' => c as u32 - '0' as u32,
        'A' | 'J' => 1,
        'B' | 'K' | 'S' => 2,
        'C' | 'L' | 'T' => 3,
        'D' | 'M' | 'U' => 4,
        'E' | 'N' | 'V' => 5,
        'F' | 'W' => 6,
        'G' | 'P' | 'X' => 7,
        'H' | 'Y' => 8,
        'R' | 'Z' => 9,
        _ => return None,
    })
}

/// The check digit the other sixteen characters of `vin` (17 valid characters) make.
fn check_digit(vin: &[char]) -> char {
    let sum: u32 = vin
        .iter()
        .zip(WEIGHTS)
        .map(|(c, w)| value(*c).unwrap_or(0) * w)
        .sum();
    match sum % 11 {
        10 => 'X',
        n => char::from_digit(n, 10).unwrap_or('0'),
    }
}

/// Checks a VIN (spaces around it ignored, any case) and decodes what it can.
pub fn decode(vin: &str) -> Result<DecodedVin, VinError> {
    let vin = vin.trim().to_ascii_uppercase();
    let chars: Vec<char> = vin.chars().collect();
    if chars.len() != 17 {
        return Err(VinError::Length(chars.len()));
    }
    if let Some(c) = chars.iter().find(|c| value(**c).is_none()) {
        return Err(VinError::Character(*c));
    }
    let expected = check_digit(&chars);
    if chars[8] != expected {
        return Err(VinError::CheckDigit {
            found: chars[8],
            expected,
        });
    }
    // 49 CFR 565.15: a numeric 7th character means 1980-2009, a letter 2010-2039.
    let base = if chars[6].is_ascii_digit() {
        1980
    } else {
        2010
    };
    let year = YEARS.find(chars[9]).map(|i| base + i as u16);
    let make = WMI
        .iter()
        .filter(|(prefix, _)| vin.starts_with(prefix))
        .max_by_key(|(prefix, _)| prefix.len())
        .map(|(_, make)| *make);
    Ok(DecodedVin { vin, year, make })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_classic_example_is_valid_and_its_check_digit_is_x() {
        // 49 CFR 565's worked example; check digit X (remainder 10), year K with a numeric
        // 7th character: 1989.
        let d = decode("1M8GDM9AXKP042788").unwrap();
        assert_eq!(d.year, Some(1989));
        assert_eq!(
            d.make, None,
            "1M8 (Motor Coach Industries) is not in the table"
        );
    }

    #[test]
    fn real_vins_decode_year_and_make() {
        // A 2003 Honda Accord (7th numeric, Y = 2000 + 3 => 3 = 2003).
        let d = decode("1hgcm82633a004352").unwrap();
        assert_eq!(d.vin, "1HGCM82633A004352");
        assert_eq!((d.year, d.make), (Some(2003), Some("Honda")));
        // A 2011 BMW 5 series: a letter in 7th place, B = 2011.
        let d = decode("WBAFR7C57BC608385").unwrap();
        assert_eq!((d.year, d.make), (Some(2011), Some("BMW")));
        // A 2006 Chevrolet Malibu.
        let d = decode("1G1ZT53826F109149").unwrap();
        assert_eq!((d.year, d.make), (Some(2006), Some("Chevrolet")));
        // The longest prefix wins: JTH is Lexus where JT alone is Toyota (made-up serials with
        // their right check digits).
        assert_eq!(decode("JTHBK1GG9D2012345").unwrap().make, Some("Lexus"));
        assert_eq!(decode("4T1BF1FK7EU123456").unwrap().make, Some("Toyota"));
        // An identifier not in the table decodes without a make.
        assert_eq!(decode("1M8GDM9AXKP042788").unwrap().make, None);
    }

    #[test]
    fn a_wrong_check_digit_names_the_expected_one() {
        // The Accord with its last digit changed.
        let e = decode("1HGCM82633A004353").unwrap_err();
        assert_eq!(
            e,
            VinError::CheckDigit {
                found: '3',
                expected: '5'
            }
        );
        assert!(e.to_string().contains("make it 5"), "{e}");
        // Two characters swapped.
        assert_eq!(
            decode("1HGCM82633A004325"),
            Err(VinError::CheckDigit {
                found: '3',
                expected: '0'
            })
        );
        // The classic example with its check digit changed from X to 9.
        assert_eq!(
            decode("1M8GDM9A9KP042788"),
            Err(VinError::CheckDigit {
                found: '9',
                expected: 'X'
            })
        );
    }

    #[test]
    fn length_and_characters_are_checked_first() {
        assert_eq!(decode("1HGCM8263"), Err(VinError::Length(9)));
        assert_eq!(decode(""), Err(VinError::Length(0)));
        assert_eq!(decode("1HGCM82633A00435O"), Err(VinError::Character('O')));
        assert_eq!(decode("1HGCM82633A0043-2"), Err(VinError::Character('-')));
    }
}
