//! `hashtags(text)`: the hashtags of a text as a list of case-folded strings, in order of
//! appearance (a tag used twice appears twice).
//!
//! The rules follow Twitter's: a tag starts with `#` or the full-width `＃`, which must not be
//! preceded by a letter, digit or `&` (so `page#frag` and `&#39;` are not tags); its body is
//! letters, digits, underscores and combining marks in any script; a body of digits and
//! underscores alone is not a tag (`#123`); and tags inside URLs are ignored.

use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, ListBuilder, StringBuilder};
use arrow::datatypes::{DataType, Field};
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

/// Combining marks of the scripts tags are written in (general categories Mn, Mc, Me), plus
/// the zero-width joiners some scripts need inside words.
fn is_mark(c: char) -> bool {
    matches!(c as u32,
        0x0300..=0x036F | 0x0483..=0x0489 | 0x0591..=0x05BD | 0x05BF | 0x05C1..=0x05C2
        | 0x05C4..=0x05C5 | 0x05C7 | 0x0610..=0x061A | 0x064B..=0x065F | 0x0670
        | 0x06D6..=0x06DC | 0x06DF..=0x06E4 | 0x06E7..=0x06E8 | 0x06EA..=0x06ED
        | 0x0900..=0x0903 | 0x093A..=0x094F | 0x0951..=0x0957 | 0x0962..=0x0963
        | 0x0E31 | 0x0E34..=0x0E3A | 0x0E47..=0x0E4E | 0x1AB0..=0x1AFF | 0x1DC0..=0x1DFF
        | 0x200C..=0x200D | 0x20D0..=0x20FF | 0x3099..=0x309A | 0xFE20..=0xFE2F)
}

fn is_tag_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || is_mark(c)
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
                !(p.is_alphanumeric() || p == '&' || is_mark(p))
            };
            let start = i + 1;
            let mut end = start;
            while end < chars.len() && is_tag_char(chars[end].1) {
                end += 1;
            }
            if prev_ok && end > start {
                let body: String = chars[start..end].iter().map(|(_, c)| *c).collect();
                let next_is_hash_or_url = chars.get(end).is_some_and(|(_, c)| is_hash(*c))
                    || text[chars.get(end).map_or(text.len(), |(p, _)| *p)..].starts_with("://");
                if body.chars().any(char::is_alphabetic) && !next_is_hash_or_url {
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
