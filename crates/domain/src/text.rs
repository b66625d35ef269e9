//! Text that people read (names, device ids shown to analysts) must look like what it is. Format
//! characters are invisible yet change the display: U+202E (right-to-left override) shows
//! `device-\u{202E}gpj.exe` as `device-exe.jpg`; zero-width spaces make two ids that look the same.
//! They are refused where such text comes in.

use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

/// The first character in an identifier that would not be seen as itself: a control (Cc), a format
/// character (Cf: bidirectional controls, zero-width characters, the byte-order mark, tags) or a
/// line or paragraph separator.
pub fn hidden_in_id(text: &str) -> Option<char> {
    text.chars().find(|&c| is_hidden(c))
}

/// The same for a person's or an organisation's name, which may carry the zero-width joiner and
/// non-joiner (U+200D, U+200C): Persian and Indic names and emoji sequences need them, and they
/// cannot reorder what is shown.
pub fn hidden_in_name(text: &str) -> Option<char> {
    text.chars().find(|&c| is_hidden(c) && !matches!(c, '\u{200C}' | '\u{200D}'))
}

/// How an error message names the character: `U+202E (an invisible formatting character)`.
pub fn describe(c: char) -> String {
    format!("U+{:04X}, an invisible control or formatting character", u32::from(c))
}

fn is_hidden(c: char) -> bool {
    matches!(
        c.general_category(),
        GeneralCategory::Control
            | GeneralCategory::Format
            | GeneralCategory::LineSeparator
            | GeneralCategory::ParagraphSeparator
    ) || blank_or_ignorable(c)
}

/// Characters that show as nothing, or as a blank, though Unicode does not class them as formatting: the
/// other Default_Ignorable_Code_Points (combining grapheme joiner, Hangul fillers, Mongolian and other
/// variation selectors) and the braille blank. A payee "João\u{3164}x" reads as "João x" in an SMS.
fn blank_or_ignorable(c: char) -> bool {
    matches!(c,
        '\u{034F}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}' | '\u{180B}'..='\u{180F}' | '\u{2800}'
        | '\u{3164}' | '\u{FE00}'..='\u{FE0F}' | '\u{FFA0}' | '\u{E0100}'..='\u{E01EF}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bidirectional_overrides_and_zero_width_characters_are_hidden() {
        for c in [
            '\u{202E}',
            '\u{202A}',
            '\u{2066}',
            '\u{200B}',
            '\u{200E}',
            '\u{FEFF}',
            '\u{00AD}',
            '\u{E0041}',
            '\n',
            '\u{034F}',
            '\u{3164}',
            '\u{115F}',
            '\u{FE0F}',
            '\u{2800}',
        ] {
            assert_eq!(hidden_in_id(&format!("abc{c}def")), Some(c), "U+{:04X}", u32::from(c));
            assert_eq!(hidden_in_name(&format!("abc{c}def")), Some(c), "U+{:04X}", u32::from(c));
        }
    }

    #[test]
    fn ordinary_text_in_any_script_is_not() {
        for text in ["ASDiknh123", "João da Silva", "Ærø", "محمد", "東京", "iPhone 12 (A2403)"] {
            assert_eq!(hidden_in_id(text), None, "{text}");
            assert_eq!(hidden_in_name(text), None, "{text}");
        }
    }

    #[test]
    fn joiners_belong_in_names_but_not_in_ids() {
        let persian = "مهر\u{200C}داد";
        assert_eq!(hidden_in_name(persian), None);
        assert_eq!(hidden_in_id(persian), Some('\u{200C}'));
    }
}
