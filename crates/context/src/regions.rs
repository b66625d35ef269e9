//! ISO 3166 names and codes: country names from ISO 3166-1, and subdivision codes (`SP` for São Paulo)
//! from ISO 3166-2, both as pycountry ships them. The city databases give a region's *name* only
//! (DB-IP in English or local spelling, GeoNames in ASCII), so names are matched after folding case,
//! accents and punctuation, with an alias table for the spellings that differ in words.

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;

#[derive(Debug, Default)]
pub struct Regions {
    countries: HashMap<String, String>,
    /// (country code, folded subdivision name) → (subdivision code without the country, ISO name).
    subdivisions: HashMap<(String, String), (String, String)>,
    /// (country code, subdivision code) → ISO name.
    by_code: HashMap<(String, String), String>,
}

#[derive(Debug, thiserror::Error)]
pub enum RegionsError {
    #[error("cannot read {0}: {1}")]
    Read(String, std::io::Error),
    #[error("{0} is not a pycountry ISO 3166 file: {1}")]
    Json(String, serde_json::Error),
}

#[derive(Deserialize)]
struct Iso1 {
    #[serde(rename = "3166-1")]
    entries: Vec<Country>,
}

#[derive(Deserialize)]
struct Country {
    alpha_2: String,
    name: String,
    common_name: Option<String>,
}

#[derive(Deserialize)]
struct Iso2 {
    #[serde(rename = "3166-2")]
    entries: Vec<Subdivision>,
}

#[derive(Deserialize)]
struct Subdivision {
    code: String,
    name: String,
    parent: Option<String>,
}

/// Region names that the city databases spell differently from ISO 3166-2, in words rather than accents.
const ALIASES: &[(&str, &str, &str)] = &[
    ("BR", "federal district", "DF"),
    ("MX", "mexico city", "CMX"),
    ("MX", "ciudad de mexico", "CMX"),
    ("US", "washington d c", "DC"),
    ("US", "district of columbia", "DC"),
    ("AR", "buenos aires f d", "C"),
    ("AR", "autonomous city of buenos aires", "C"),
    ("CO", "bogota d c", "DC"),
    ("PE", "lima province", "LMA"),
    ("CL", "santiago metropolitan", "RM"),
    ("CL", "region metropolitana de santiago", "RM"),
];

impl Regions {
    pub fn load(iso1: &Path, iso2: &Path) -> Result<Regions, RegionsError> {
        let read = |p: &Path| std::fs::read(p).map_err(|e| RegionsError::Read(p.display().to_string(), e));
        let one: Iso1 =
            serde_json::from_slice(&read(iso1)?).map_err(|e| RegionsError::Json(iso1.display().to_string(), e))?;
        let two: Iso2 =
            serde_json::from_slice(&read(iso2)?).map_err(|e| RegionsError::Json(iso2.display().to_string(), e))?;
        Ok(Regions::from_entries(one.entries, two.entries))
    }

    fn from_entries(countries: Vec<Country>, subdivisions: Vec<Subdivision>) -> Regions {
        let mut r = Regions::default();
        for c in countries {
            r.countries.insert(c.alpha_2, c.common_name.unwrap_or(c.name));
        }
        // Top-level subdivisions first, so that a lower level sharing a name does not shadow a state.
        let (top, lower): (Vec<_>, Vec<_>) = subdivisions.into_iter().partition(|s| s.parent.is_none());
        for s in top.into_iter().chain(lower) {
            let Some((country, code)) = s.code.split_once('-') else { continue };
            let key = (country.to_owned(), fold(&s.name));
            r.subdivisions.entry(key).or_insert_with(|| (code.to_owned(), s.name.clone()));
            // Names such as "São Paulo (state)" or "Bogotá, D.C." are also known without the qualifier.
            if let Some(short) = s.name.split([',', '(', '[']).next().filter(|n| n.len() < s.name.len()) {
                r.subdivisions
                    .entry((country.to_owned(), fold(short)))
                    .or_insert_with(|| (code.to_owned(), s.name.clone()));
            }
            r.by_code.entry((country.to_owned(), code.to_owned())).or_insert(s.name);
        }
        for (country, alias, code) in ALIASES {
            if let Some(name) = r.by_code.get(&((*country).to_owned(), (*code).to_owned())).cloned() {
                r.subdivisions.insert(((*country).to_owned(), fold(alias)), ((*code).to_owned(), name));
            }
        }
        r
    }

    /// The country's English name (`BR` → `Brazil`).
    pub fn country_name(&self, code: &str) -> Option<&str> {
        self.countries.get(code).map(String::as_str)
    }

    /// The subdivision's code and ISO name (`BR`, `Sao Paulo` → `SP`, `São Paulo`).
    pub fn subdivision(&self, country: &str, name: &str) -> Option<(&str, &str)> {
        let folded = fold(name);
        let hit = self.subdivisions.get(&(country.to_owned(), folded.clone())).or_else(|| {
            // "State of São Paulo", "Provincia de Buenos Aires": drop the administrative word.
            let trimmed = strip_admin_words(&folded);
            (trimmed != folded).then(|| self.subdivisions.get(&(country.to_owned(), trimmed))).flatten()
        })?;
        Some((hit.0.as_str(), hit.1.as_str()))
    }

    /// Subdivisions known.
    pub fn len(&self) -> usize {
        self.by_code.len()
    }

    pub fn is_empty(&self) -> bool {
        self.countries.is_empty()
    }

    /// The ISO name of a subdivision given its code (`BR`, `SP` → `São Paulo`).
    pub fn subdivision_name(&self, country: &str, code: &str) -> Option<&str> {
        self.by_code.get(&(country.to_owned(), code.to_owned())).map(String::as_str)
    }
}

fn strip_admin_words(folded: &str) -> String {
    const WORDS: &[&str] = &[
        "state of ",
        "estado de ",
        "estado do ",
        "province of ",
        "provincia de ",
        "region ",
        " region",
        " province",
        " state",
        " prefecture",
        " oblast",
        " governorate",
        " county",
    ];
    let mut s = folded.to_owned();
    for w in WORDS {
        s = s.replace(w, "");
    }
    s.trim().to_owned()
}

/// Lower case, Latin accents removed, punctuation as spaces, single spaces.
pub fn fold(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut space = true;
    for c in s.chars().flat_map(char::to_lowercase) {
        let c = unaccent(c);
        if c == '\0' {
            continue;
        }
        if c.is_alphanumeric() {
            out.push(c);
            space = false;
        } else if !space {
            out.push(' ');
            space = true;
        }
    }
    if out.ends_with(' ') {
        out.pop();
    }
    out
}

fn unaccent(c: char) -> char {
    match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ă' | 'ą' => 'a',
        'ç' | 'ć' | 'č' | 'ĉ' | 'ċ' => 'c',
        'ď' | 'đ' => 'd',
        'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ĕ' | 'ė' | 'ę' | 'ě' => 'e',
        'ĝ' | 'ğ' | 'ġ' | 'ģ' => 'g',
        'ĥ' | 'ħ' => 'h',
        'ì' | 'í' | 'î' | 'ï' | 'ĩ' | 'ī' | 'ĭ' | 'į' | 'ı' => 'i',
        'ĵ' => 'j',
        'ķ' => 'k',
        'ĺ' | 'ļ' | 'ľ' | 'ŀ' | 'ł' => 'l',
        'ñ' | 'ń' | 'ņ' | 'ň' => 'n',
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' | 'ŏ' | 'ő' => 'o',
        'ŕ' | 'ŗ' | 'ř' => 'r',
        'ś' | 'ŝ' | 'ş' | 'š' | 'ș' => 's',
        'ţ' | 'ť' | 'ŧ' | 'ț' => 't',
        'ù' | 'ú' | 'û' | 'ü' | 'ũ' | 'ū' | 'ŭ' | 'ů' | 'ű' | 'ų' => 'u',
        'ŵ' => 'w',
        'ý' | 'ÿ' | 'ŷ' => 'y',
        'ź' | 'ż' | 'ž' => 'z',
        '\'' | '’' | '`' => '\0',
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Regions {
        let c = |a: &str, n: &str| Country { alpha_2: a.into(), name: n.into(), common_name: None };
        let s = |code: &str, name: &str| Subdivision { code: code.into(), name: name.into(), parent: None };
        Regions::from_entries(
            vec![c("BR", "Brazil"), c("US", "United States")],
            vec![s("BR-SP", "São Paulo"), s("BR-DF", "Distrito Federal"), s("US-DC", "District of Columbia")],
        )
    }

    #[test]
    fn names_match_across_accents_case_and_aliases() {
        let r = sample();
        assert_eq!(r.subdivision("BR", "Sao Paulo"), Some(("SP", "São Paulo")));
        assert_eq!(r.subdivision("BR", "SÃO PAULO"), Some(("SP", "São Paulo")));
        assert_eq!(r.subdivision("BR", "State of São Paulo"), Some(("SP", "São Paulo")));
        assert_eq!(r.subdivision("BR", "Federal District"), Some(("DF", "Distrito Federal")));
        assert_eq!(r.subdivision("US", "Washington, D.C."), Some(("DC", "District of Columbia")));
        assert_eq!(r.subdivision("US", "São Paulo"), None);
        assert_eq!(r.country_name("BR"), Some("Brazil"));
    }

    #[test]
    fn folding() {
        assert_eq!(fold("  Bogotá, D.C. "), "bogota d c");
        assert_eq!(fold("Côte-d'Ivoire"), "cote divoire");
    }
}
