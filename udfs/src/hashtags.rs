//! `hashtags(text)`: the hashtags of a text as a list of case-folded strings, in order of
//! appearance (a tag used twice appears twice).
//!
//! The rules are twitter-text's, by Unicode's general categories (from `unicode-properties`),
//! so they hold in every script: a tag starts with `#` or the full-width `＃`, not preceded by
//! a letter, mark, decimal digit, `_` or `&` (so `page#frag` and `&#39;` are not tags) and not
//! followed by U+FE0F or U+20E3 (the keycap emoji `#️⃣`); its body is letters, marks, decimal
//! digits, `_` and the few joiners and word-internal signs twitter-text allows (ZWNJ, ZWJ, the
//! katakana middle dot, ...), with at least one letter or mark (`#123` is not a tag); a tag
//! followed by `#`, `＃` or `://` is not one; tags inside URLs are ignored; and a tag is
//! case-folded with the full Unicode lower-case mapping.

use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, ListBuilder, StringBuilder};
use arrow::datatypes::{DataType, Field};
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use unicode_properties::{GeneralCategory, GeneralCategoryGroup, UnicodeGeneralCategory};

/// Characters of a tag's body besides letters, marks, digits and `_` (twitter-text's list).
const BODY_EXTRAS: [char; 16] = [
    '\u{200C}', '\u{200D}', '\u{A67E}', '\u{05BE}', '\u{05F3}', '\u{05F4}', '\u{FF5E}', '\u{301C}',
    '\u{309B}', '\u{309C}', '\u{30A0}', '\u{30FB}', '\u{3003}', '\u{0F0B}', '\u{0F0C}', '\u{00B7}',
];

/// A letter or a mark (general categories L and M).
fn is_letter_or_mark(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_alphabetic();
    }
    matches!(
        c.general_category_group(),
        GeneralCategoryGroup::Letter | GeneralCategoryGroup::Mark
    )
}

/// A letter, mark or decimal digit (Nd), or `_`: what may not come right before a tag.
fn is_word_char(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_alphanumeric() || c == '_';
    }
    is_letter_or_mark(c) || c.general_category() == GeneralCategory::DecimalNumber
}

fn is_tag_char(c: char) -> bool {
    is_word_char(c) || (!c.is_ascii() && BODY_EXTRAS.contains(&c))
}

fn is_hash(c: char) -> bool {
    c == '#' || c == '＃'
}

/// Extracts the hashtags of `text` (see the module doc for the rules).
pub fn extract(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    if !text.contains(is_hash) {
        return out;
    }
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut i = 0;
    while i < chars.len() {
        let (pos, c) = chars[i];
        // Skip URLs whole: their fragments and paths are not tags.
        if c.is_ascii_alphabetic() && (i == 0 || chars[i - 1].1.is_whitespace()) {
            let rest = &text.as_bytes()[pos..];
            let starts = |p: &str| {
                rest.get(..p.len())
                    .is_some_and(|r| r.eq_ignore_ascii_case(p.as_bytes()))
            };
            if starts("http://") || starts("https://") || starts("www.") {
                while i < chars.len() && !chars[i].1.is_whitespace() {
                    i += 1;
                }
                continue;
            }
        }
        if is_hash(c) {
            let prev_ok = i == 0 || {
                let p = chars[i - 1].1;
                !(is_word_char(p) || p == '&')
            };
            let keycap = chars
                .get(i + 1)
                .is_some_and(|(_, n)| matches!(n, '\u{FE0F}' | '\u{20E3}'));
            let start = i + 1;
            let mut end = start;
            while end < chars.len() && is_tag_char(chars[end].1) {
                end += 1;
            }
            if prev_ok && !keycap && end > start {
                let body: String = chars[start..end].iter().map(|(_, c)| *c).collect();
                let next_is_hash_or_url = chars.get(end).is_some_and(|(_, c)| is_hash(*c))
                    || text[chars.get(end).map_or(text.len(), |(p, _)| *p)..].starts_with("://");
                if body.chars().any(is_letter_or_mark) && !next_is_hash_or_url {
                    out.push(body.to_lowercase());
                }
            }
            i = end.max(i + 1);
            continue;
        }
        i += 1;
    }
    out
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct Hashtags {
    signature: Signature,
}

/// The `hashtags(text) -> list<utf8>` scalar function.
pub fn udf() -> ScalarUDF {
    ScalarUDF::new_from_impl(Hashtags {
        signature: Signature::string(1, Volatility::Immutable),
    })
}

fn list_type() -> DataType {
    DataType::List(Arc::new(Field::new("item", DataType::Utf8, true)))
}

impl ScalarUDFImpl for Hashtags {
    fn name(&self) -> &str {
        "hashtags"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(list_type())
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [arg] = args.args.as_slice() else {
            return exec_err!("hashtags takes one argument");
        };
        let array = arg.to_array(args.number_rows)?;
        let array = arrow::compute::cast(&array, &DataType::Utf8)?;
        let strings = array.as_string::<i32>();
        let mut b = ListBuilder::new(StringBuilder::new());
        for v in strings.iter() {
            match v {
                Some(t) => {
                    for tag in extract(t) {
                        b.values().append_value(tag);
                    }
                    b.append(true);
                }
                None => b.append(false),
            }
        }
        let out: ArrayRef = Arc::new(b.finish());
        Ok(if matches!(arg, ColumnarValue::Scalar(_)) {
            ColumnarValue::Scalar(datafusion::scalar::ScalarValue::try_from_array(&out, 0)?)
        } else {
            ColumnarValue::Array(out)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::extract;

    fn tags(s: &str) -> Vec<String> {
        extract(s)
    }

    #[test]
    fn plain_tags_are_case_folded_in_order() {
        assert_eq!(
            tags("Go #Rust and #DataFusion, #rust!"),
            ["rust", "datafusion", "rust"]
        );
        assert_eq!(tags("#a_b #snake_case_2"), ["a_b", "snake_case_2"]);
    }

    #[test]
    fn preceded_by_letter_digit_or_ampersand_is_not_a_tag() {
        assert!(tags("page#frag a1#b &#39; x&#tag").is_empty());
        assert_eq!(tags("(#ok) \"#quoted\" .#dot"), ["ok", "quoted", "dot"]);
    }

    #[test]
    fn urls_with_fragments_are_not_tags() {
        assert!(tags("see https://example.com/#section and http://x.io/a#b").is_empty());
        assert_eq!(tags("www.site.com/#x then #real"), ["real"]);
    }

    #[test]
    fn digits_only_and_doubled_hashes() {
        assert!(tags("#123 #1_2 #_").is_empty());
        assert_eq!(tags("#2021goals #1st"), ["2021goals", "1st"]);
        assert_eq!(tags("##double"), ["double"]);
        assert!(tags("# alone #").is_empty());
    }

    #[test]
    fn emoji_end_a_tag_and_keycaps_are_not_tags() {
        assert_eq!(tags("#fire🔥 #🔥 #️⃣"), ["fire"]);
    }

    #[test]
    fn a_tag_in_every_script_with_and_without_emoji_next_to_it() {
        let scripts = [
            ("Ünïcödé", "ünïcödé"),
            ("Привет", "привет"),
            // Greek: the full lower-case mapping gives the final sigma.
            ("ΟΔΥΣΣΕΥΣ", "οδυσσευς"),
            ("السعودية", "السعودية"),
            ("שָׁלוֹם", "שָׁלוֹם"),
            ("हिन्दी", "हिन्दी"),
            ("বাংলা", "বাংলা"),
            ("தமிழ்", "தமிழ்"),
            ("മലയാളം", "മലയാളം"),
            ("ภาษาไทย", "ภาษาไทย"),
            ("한국어", "한국어"),
            ("東京オリンピック", "東京オリンピック"),
            ("中文", "中文"),
            // Full mapping: İ lower-cases to i and a combining dot.
            ("İstanbul", "i\u{307}stanbul"),
        ];
        for (word, tag) in scripts {
            for text in [
                format!("#{word}"),
                format!("x #{word}!"),
                format!("#{word}🔥"),
                format!("#{word}❤\u{FE0F} ok"),
                format!("🔥#{word}"),
                format!("🔥 #{word} 🔥"),
                format!("＃{word}"),
            ] {
                assert_eq!(tags(&text), [tag], "{text:?}");
            }
            // A mark (a variation selector) or letter right before the hash: not a tag.
            assert!(tags(&format!("❤\u{FE0F}#{word}")).is_empty(), "{word}");
            assert!(tags(&format!("a{word}#{word}")).is_empty(), "{word}");
        }
    }

    #[test]
    fn the_edges_of_the_rule() {
        // Preceded by `_`, a decimal digit in another script, or `&`: not tags.
        assert!(tags("a_#tag ٣#tag &#tag").is_empty());
        // Only decimal digits count as digits: `²` ends a tag, and alone is none.
        assert_eq!(tags("#x² #²"), ["x"]);
        // Digits of any script with a letter make a tag; digits alone do not.
        assert_eq!(tags("#٣٤ #abc٣٤ #১২৩"), ["abc٣٤"]);
        // Keycap emoji and a hash followed by a variation selector are not tags.
        assert_eq!(tags("#️⃣ #\u{20E3} #\u{FE0F}x #ok"), ["ok"]);
        // Joiners inside a word (Persian with ZWNJ) and the katakana middle dot.
        assert_eq!(
            tags("#می\u{200C}خواهم #ハロー・ワールド"),
            ["می\u{200C}خواهم", "ハロー・ワールド"]
        );
        // A body that is marks only counts (twitter-text's letter-or-mark rule).
        assert_eq!(tags("#\u{301}"), ["\u{301}"]);
        // Followed by a hash or `://`: not a tag.
        assert!(tags("#a#b #c＃ #http://x").is_empty());
    }

    #[test]
    fn any_script_and_full_width_hash() {
        assert_eq!(
            tags("＃東京オリンピック と #中文"),
            ["東京オリンピック", "中文"]
        );
        assert_eq!(tags("مرحبا #السعودية"), ["السعودية"]);
        // Arabic with harakat (combining marks) stays one tag.
        assert_eq!(tags("#مَرْحَبًا"), ["مَرْحَبًا"]);
        assert_eq!(tags("#हिन्दी"), ["हिन्दी"]);
        assert_eq!(tags("#Ünïcödé"), ["ünïcödé"]);
        assert_eq!(tags("#Café\u{301}s"), ["café\u{301}s"]);
    }
}
