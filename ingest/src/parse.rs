//! Parsers shared by the sources: timestamps in the shapes real Twitch and Twitter exports use,
//! display counts ("16.5K viewers", "492.4 mil espectadores"), and tweets in the Twitter v1.1
//! and v2 JSON shapes. Times without a zone are taken as UTC.

use std::borrow::Cow;
use std::fmt;

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::de::{
    Deserialize, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor,
};

use crate::records::MessageRef;

/// Parses a timestamp into microseconds since the epoch (UTC).
pub fn parse_time(s: &str) -> Option<i64> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if let Some(t) = twitter_time(s.as_bytes()) {
        return Some(t);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp_micros());
    }
    for f in [
        "%Y-%m-%d %H:%M:%S%.f%:z",
        "%Y-%m-%d %H:%M:%S%:z",
        "%a %b %d %H:%M:%S %z %Y",
    ] {
        if let Ok(t) = DateTime::parse_from_str(s, f) {
            return Some(t.timestamp_micros());
        }
    }
    for f in [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, f) {
            return Some(t.and_utc().timestamp_micros());
        }
    }
    // Unix seconds (TwitchProfiler names its samples this way).
    if let Ok(secs) = s.parse::<i64>()
        && (0..100_000_000_000).contains(&secs)
    {
        return Some(secs * 1_000_000);
    }
    None
}

/// Twitter v1.1's `Wed Jul 18 21:33:26 +0000 2018` read without a format string (the
/// hot path of tweet ingest); `None` for anything not exactly in that layout, which the
/// general parsers then try.
fn twitter_time(b: &[u8]) -> Option<i64> {
    const DAYS: [&[u8; 3]; 7] = [b"Mon", b"Tue", b"Wed", b"Thu", b"Fri", b"Sat", b"Sun"];
    const MONTHS: [&[u8; 3]; 12] = [
        b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
        b"Dec",
    ];
    if b.len() != 30 || [3, 7, 10, 19, 25].iter().any(|&i| b[i] != b' ') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        b[r].iter().try_fold(0u32, |n, &c| {
            c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
        })
    };
    let weekday = DAYS.iter().position(|d| d[..] == b[0..3])?;
    let month = MONTHS.iter().position(|m| m[..] == b[4..7])? as u32 + 1;
    let (day, year) = (num(8..10)?, num(26..30)?);
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (h, m, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let sign = match b[20] {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let (zone_h, zone_m) = (num(21..23)?, num(23..25)?);
    let offset = sign * i64::from(zone_h * 3600 + zone_m * 60);
    if offset.abs() >= 86_400 || zone_m > 59 || h > 23 || m > 59 || sec > 59 {
        return None;
    }
    let days = days_from_civil(i64::from(year), month, day)?;
    // 1970-01-01 was a Thursday (3 days after a Monday).
    if (days + 3).rem_euclid(7) as usize != weekday {
        return None;
    }
    let secs = days * 86_400 + i64::from(h * 3600 + m * 60 + sec) - offset;
    Some(secs * 1_000_000)
}

/// Days from 1970-01-01 to a date of the proleptic Gregorian calendar, `None` for a day the
/// month does not have (the civil-from-days inverse in Howard Hinnant's date algorithms).
fn days_from_civil(year: i64, month: u32, day: u32) -> Option<i64> {
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let month_days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    if day == 0 || day > month_days {
        return None;
    }
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = i64::from((month + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}

/// Parses a count as sites display it: `564000`, `12,149`, `16.5K viewers`, `1.2M`,
/// `492.4 mil espectadores` (Portuguese thousands), `1,2 mi` (Portuguese millions).
pub fn parse_count(s: &str) -> Option<i64> {
    let s = s.trim().to_lowercase();
    let num_end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == ','))
        .unwrap_or(s.len());
    let (num, rest) = s.split_at(num_end);
    if num.is_empty() {
        return None;
    }
    let rest = rest.trim_start();
    let word = rest.split_whitespace().next().unwrap_or("");
    let mult = match word {
        "k" | "mil" => 1e3,
        "m" | "mi" | "mln" => 1e6,
        "b" | "bi" => 1e9,
        _ if word.starts_with('k') => 1e3,
        _ if word.starts_with('m') && word != "million" => 1e6,
        "million" => 1e6,
        _ => 1.0,
    };
    // A comma is a thousands separator when three digits follow it and no dot is present;
    // otherwise (e.g. "1,2 mi") a decimal comma.
    let normalised = if num.contains('.') {
        num.replace(',', "")
    } else if let Some((_, frac)) = num.rsplit_once(',') {
        if frac.len() == 3 {
            num.replace(',', "")
        } else {
            num.replace(',', ".")
        }
    } else {
        num.to_string()
    };
    let v: f64 = normalised.parse().ok()?;
    Some((v * mult).round() as i64)
}

/// Visitor methods that take any JSON value but the ones a visitor handles itself as
/// `$none` (arrays and objects are read through and skipped).
macro_rules! skip_other_values {
    ($none:expr; $($skip:ident),*) => {
        fn visit_i64<E>(self, _: i64) -> std::result::Result<Self::Value, E> {
            Ok($none)
        }
        fn visit_f64<E>(self, _: f64) -> std::result::Result<Self::Value, E> {
            Ok($none)
        }
        fn visit_bool<E>(self, _: bool) -> std::result::Result<Self::Value, E> {
            Ok($none)
        }
        fn visit_unit<E>(self) -> std::result::Result<Self::Value, E> {
            Ok($none)
        }
        $(skip_other_values!(@$skip $none);)*
    };
    (@str $none:expr) => {
        fn visit_str<E>(self, _: &str) -> std::result::Result<Self::Value, E> {
            Ok($none)
        }
        fn visit_u64<E>(self, _: u64) -> std::result::Result<Self::Value, E> {
            Ok($none)
        }
    };
    (@seq $none:expr) => {
        fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> std::result::Result<Self::Value, A::Error> {
            while a.next_element::<IgnoredAny>()?.is_some() {}
            Ok($none)
        }
    };
    (@map $none:expr) => {
        fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> std::result::Result<Self::Value, A::Error> {
            while a.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            Ok($none)
        }
    };
}

/// A JSON value as the tweet fields need it: a string (borrowed when it has no escapes), a
/// non-negative integer (an id), or anything else, skipped.
enum Scalar<'a> {
    Str(Cow<'a, str>),
    Uint(u64),
    Other,
}

impl<'a> Scalar<'a> {
    fn str(self) -> Option<Cow<'a, str>> {
        match self {
            Scalar::Str(s) => Some(s),
            _ => None,
        }
    }
}

impl<'de> Deserialize<'de> for Scalar<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Scalar<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> std::result::Result<Self::Value, E> {
                Ok(Scalar::Str(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> std::result::Result<Self::Value, E> {
                Ok(Scalar::Str(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> std::result::Result<Self::Value, E> {
                Ok(Scalar::Str(Cow::Owned(v)))
            }
            fn visit_u64<E>(self, v: u64) -> std::result::Result<Self::Value, E> {
                Ok(Scalar::Uint(v))
            }
            skip_other_values!(Scalar::Other; seq, map);
        }
        d.deserialize_any(V)
    }
}

/// The fields of a JSON object one of the tweet shapes reads; the others are skipped. A key
/// given twice counts its last value, as in `serde_json::Value`.
trait Fields<'de>: Default {
    fn field<A: MapAccess<'de>>(
        &mut self,
        key: &str,
        a: &mut A,
    ) -> std::result::Result<(), A::Error>;
}

/// `Some` for a JSON object, `None` (the value skipped) for anything else.
struct Obj<T>(Option<T>);

impl<'de, T: Fields<'de>> Deserialize<'de> for Obj<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let mut t = T::default();
        let object = Fill(&mut t).deserialize(d)?;
        Ok(Obj(object.then_some(t)))
    }
}

/// Reads a JSON object's fields into a `T` in place, `true`; anything else is skipped,
/// `false`. (A tweet's fields are many: moving them from one frame to the next took as long
/// as reading the keys.)
struct Fill<'t, T>(&'t mut T);

impl<'de, T: Fields<'de>> DeserializeSeed<'de> for Fill<'_, T> {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<bool, D::Error> {
        struct V<'t, T>(&'t mut T);
        impl<'de, T: Fields<'de>> Visitor<'de> for V<'_, T> {
            type Value = bool;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                mut a: A,
            ) -> std::result::Result<Self::Value, A::Error> {
                while let Some(key) = a.next_key::<Scalar<'de>>()? {
                    match key {
                        Scalar::Str(k) => self.0.field(&k, &mut a)?,
                        _ => skip(&mut a)?,
                    }
                }
                Ok(true)
            }
            skip_other_values!(false; str, seq);
        }
        d.deserialize_any(V(self.0))
    }
}

fn skip<'de, A: MapAccess<'de>>(a: &mut A) -> std::result::Result<(), A::Error> {
    a.next_value::<IgnoredAny>().map(|_| ())
}

fn string<'de, A: MapAccess<'de>>(
    a: &mut A,
) -> std::result::Result<Option<Cow<'de, str>>, A::Error> {
    Ok(a.next_value::<Scalar<'de>>()?.str())
}

/// `user` of a v1.1 tweet, an element of `includes.users` in v2.
#[derive(Default)]
struct UserFields<'a> {
    screen_name: Option<Cow<'a, str>>,
    username: Option<Cow<'a, str>>,
}

impl<'de> Fields<'de> for UserFields<'de> {
    fn field<A: MapAccess<'de>>(
        &mut self,
        key: &str,
        a: &mut A,
    ) -> std::result::Result<(), A::Error> {
        match key {
            "screen_name" => self.screen_name = string(a)?,
            "username" => self.username = string(a)?,
            _ => skip(a)?,
        }
        Ok(())
    }
}

/// `extended_tweet` (v1.1 streaming) and `includes` (v2): one field each.
#[derive(Default)]
struct Nested<'a> {
    full_text: Option<Cow<'a, str>>,
    /// `users[0].username`.
    first_username: Option<Cow<'a, str>>,
}

/// The first element of an array when it is an object; the rest skipped.
struct FirstUser<'a>(Option<UserFields<'a>>);

impl<'de> Deserialize<'de> for FirstUser<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = FirstUser<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_seq<A: SeqAccess<'de>>(
                self,
                mut a: A,
            ) -> std::result::Result<Self::Value, A::Error> {
                let first = a.next_element::<Obj<UserFields<'de>>>()?.and_then(|o| o.0);
                while a.next_element::<IgnoredAny>()?.is_some() {}
                Ok(FirstUser(first))
            }
            skip_other_values!(FirstUser(None); str, map);
        }
        d.deserialize_any(V)
    }
}

impl<'de> Fields<'de> for Nested<'de> {
    fn field<A: MapAccess<'de>>(
        &mut self,
        key: &str,
        a: &mut A,
    ) -> std::result::Result<(), A::Error> {
        match key {
            "full_text" => self.full_text = string(a)?,
            "users" => {
                self.first_username = a.next_value::<FirstUser<'de>>()?.0.and_then(|u| u.username)
            }
            _ => skip(a)?,
        }
        Ok(())
    }
}

/// The fields of a tweet object (v1.1, or v2 flat or under `data`) that make a message.
#[derive(Default)]
struct TweetFields<'a> {
    /// `data` when it is an object (v2).
    data: Option<Box<TweetFields<'a>>>,
    has_data: bool,
    has_created_at: bool,
    created_at: Option<Cow<'a, str>>,
    full_text: Option<Cow<'a, str>>,
    text: Option<Cow<'a, str>>,
    extended_full_text: Option<Cow<'a, str>>,
    id_str: Option<Cow<'a, str>>,
    id: Option<Scalar<'a>>,
    user: Option<UserFields<'a>>,
    includes_username: Option<Cow<'a, str>>,
    author_id: Option<Cow<'a, str>>,
    author: Option<Cow<'a, str>>,
    user_name: Option<Cow<'a, str>>,
    lang: Option<Cow<'a, str>>,
}

impl<'de> Fields<'de> for TweetFields<'de> {
    fn field<A: MapAccess<'de>>(
        &mut self,
        key: &str,
        a: &mut A,
    ) -> std::result::Result<(), A::Error> {
        match key {
            "data" => {
                self.has_data = true;
                self.data = a.next_value::<Obj<TweetFields<'de>>>()?.0.map(Box::new);
            }
            "created_at" => {
                self.has_created_at = true;
                self.created_at = string(a)?;
            }
            "full_text" => self.full_text = string(a)?,
            "text" => self.text = string(a)?,
            "extended_tweet" => {
                self.extended_full_text = a
                    .next_value::<Obj<Nested<'de>>>()?
                    .0
                    .and_then(|n| n.full_text)
            }
            "id_str" => self.id_str = string(a)?,
            "id" => self.id = Some(a.next_value::<Scalar<'de>>()?),
            "user" => self.user = a.next_value::<Obj<UserFields<'de>>>()?.0,
            "includes" => {
                self.includes_username = a
                    .next_value::<Obj<Nested<'de>>>()?
                    .0
                    .and_then(|n| n.first_username)
            }
            "author_id" => self.author_id = string(a)?,
            "author" => self.author = string(a)?,
            "user_name" => self.user_name = string(a)?,
            "lang" => self.lang = string(a)?,
            _ => skip(a)?,
        }
        Ok(())
    }
}

/// A JSON document read as a tweet, borrowing its strings from the input.
pub struct Tweet<'a>(Option<TweetFields<'a>>);

impl<'a> Tweet<'a> {
    /// Parses `json` (one JSON document of any kind).
    pub fn parse(json: &'a str) -> serde_json::Result<Tweet<'a>> {
        let mut fields = TweetFields::default();
        let mut de = serde_json::Deserializer::from_str(json);
        let object = Fill(&mut fields).deserialize(&mut de)?;
        de.end()?;
        Ok(Tweet(object.then_some(fields)))
    }

    /// True for an object with a `created_at` or `data` key (of any value): what a socket
    /// takes as a tweet rather than a line of text.
    pub fn looks_like_tweet(&self) -> bool {
        self.0
            .as_ref()
            .is_some_and(|t| t.has_created_at || t.has_data)
    }

    /// The tweet in the Twitter v1.1 shape (`created_at` like `Wed Jul 18 21:33:26 +0000
    /// 2018`, `user.screen_name`, `full_text` or `text`) or the v2 shape (`{"data": {...}}`
    /// or flat, with ISO `created_at` and `author_id`) as a `messages` row, or why not.
    pub fn message(self) -> std::result::Result<MessageRef<'a>, String> {
        let mut v = self.0.ok_or("tweet is not a JSON object")?;
        let includes_username = v.includes_username.take();
        // Fields are taken out where they are (the struct is big to move).
        let t = match v.data.as_deref_mut() {
            Some(d) => d,
            None => &mut v,
        };
        let text = t
            .full_text
            .take()
            .or(t.text.take())
            .or(t.extended_full_text.take())
            .ok_or("tweet has no text")?;
        let created = t.created_at.take().ok_or("tweet has no created_at")?;
        let event_time =
            parse_time(&created).ok_or_else(|| format!("unparseable created_at {created:?}"))?;
        let message_id = t.id_str.take().or_else(|| match t.id.take() {
            Some(Scalar::Str(s)) => Some(s),
            Some(Scalar::Uint(i)) => Some(Cow::Owned(i.to_string())),
            _ => None,
        });
        let author = t
            .user
            .take()
            .and_then(|u| u.screen_name.or(u.username))
            .or(includes_username)
            .or(t.author_id.take())
            .or(t.author.take())
            .or(t.user_name.take());
        Ok(MessageRef {
            event_time,
            source: Cow::Borrowed("twitter"),
            message_id,
            channel: None,
            author,
            text,
            language: t.lang.take(),
        })
    }
}

/// Decodes a Python bytes literal (`b'caf\xc3\xa9 \n'`) as some tweet exports store text;
/// anything else is returned unchanged.
pub fn python_bytes_literal(s: &str) -> String {
    let inner = match s.strip_prefix("b'").and_then(|r| r.strip_suffix('\'')) {
        Some(i) => i,
        None => match s.strip_prefix("b\"").and_then(|r| r.strip_suffix('"')) {
            Some(i) => i,
            None => return s.to_string(),
        },
    };
    let mut out: Vec<u8> = Vec::with_capacity(inner.len());
    let b = inner.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 1 < b.len() {
            let (byte, used) = match b[i + 1] {
                b'n' => (Some(b'\n'), 2),
                b't' => (Some(b'\t'), 2),
                b'r' => (Some(b'\r'), 2),
                b'\\' => (Some(b'\\'), 2),
                b'\'' => (Some(b'\''), 2),
                b'"' => (Some(b'"'), 2),
                b'x' if i + 4 <= b.len() => (
                    std::str::from_utf8(&b[i + 2..i + 4])
                        .ok()
                        .and_then(|h| u8::from_str_radix(h, 16).ok()),
                    4,
                ),
                _ => (None, 1),
            };
            match byte {
                Some(x) => {
                    out.push(x);
                    i += used;
                }
                None => {
                    out.push(b[i]);
                    i += 1;
                }
            }
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The UTC time `micros` as a `DateTime`.
pub fn to_datetime(micros: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(micros).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::MessageRow;

    #[test]
    fn times_in_every_shape_seen() {
        let t = 1_532_036_006_000_000; // 2018-07-19T21:33:26Z
        assert_eq!(parse_time("Thu Jul 19 21:33:26 +0000 2018"), Some(t));
        assert_eq!(parse_time("2018-07-19T21:33:26Z"), Some(t));
        assert_eq!(parse_time("2018-07-19 21:33:26+00:00"), Some(t));
        assert_eq!(parse_time("2018-07-19 21:33:26"), Some(t));
        assert_eq!(parse_time("2018-07-19 21:33:26.0"), Some(t));
        assert_eq!(parse_time("1532036006"), Some(t));
        assert_eq!(parse_time("2018-07-19T23:33:26+02:00"), Some(t));
        assert_eq!(parse_time("yesterday"), None);
        assert_eq!(parse_time(""), None);
    }

    #[test]
    fn display_counts() {
        assert_eq!(parse_count("564000"), Some(564_000));
        assert_eq!(parse_count("12,149"), Some(12_149));
        assert_eq!(parse_count("16.5K viewers"), Some(16_500));
        assert_eq!(parse_count("492.4 mil espectadores"), Some(492_400));
        assert_eq!(parse_count("1,2 mi"), Some(1_200_000));
        assert_eq!(parse_count("16.4M"), Some(16_400_000));
        assert_eq!(parse_count("Unknown"), None);
    }

    fn message(json: &str) -> std::result::Result<MessageRef<'_>, String> {
        Tweet::parse(json).map_err(|e| e.to_string())?.message()
    }

    #[test]
    fn tweets_v11_and_v2() {
        let m = message(
            r#"{"created_at":"Wed Jul 18 21:33:26 +0000 2018","id_str":"42","text":"x","full_text":"hello #a","user":{"screen_name":"bob"},"lang":"en"}"#,
        )
        .unwrap();
        assert_eq!(
            (&*m.text, m.author.as_deref(), m.message_id.as_deref()),
            ("hello #a", Some("bob"), Some("42"))
        );
        assert!(
            matches!(m.text, Cow::Borrowed(_)),
            "unescaped text is borrowed"
        );
        let m = message(
            r#"{"data":{"id":"7","text":"hi","created_at":"2021-11-27T10:18:33.000Z","author_id":"99","lang":"de"},"includes":{"users":[{"username":"ann"}]}}"#,
        )
        .unwrap();
        assert_eq!(
            (
                m.author.as_deref(),
                m.language.as_deref(),
                m.message_id.as_deref()
            ),
            (Some("ann"), Some("de"), Some("7"))
        );
        assert_eq!(
            message(r#"{"text": "no time"}"#).unwrap_err(),
            "tweet has no created_at"
        );
        assert_eq!(message("[1, 2]").unwrap_err(), "tweet is not a JSON object");
        assert!(message("{\"text\": ").is_err());
    }

    #[test]
    fn tweet_fields_of_odd_types_and_shapes() {
        // Numeric ids, escaped strings, nulls and values of other types where a string is
        // expected, a `data` that is not an object, nested arrays and objects skipped, and a
        // key given twice (the last counts).
        let m = message(
            r#"{"created_at":"Wed Jul 18 21:33:26 +0000 2018","id":123,"text":"caf\u00e9 \"q\"","full_text":null,"user":"x","author":"al","lang":7,"entities":{"hashtags":[{"text":"a","indices":[1,2]}]},"data":"v2?","lang":"fr"}"#,
        )
        .unwrap();
        assert_eq!(&*m.text, "caf\u{e9} \"q\"");
        assert_eq!(m.message_id.as_deref(), Some("123"));
        assert_eq!(m.author.as_deref(), Some("al"));
        assert_eq!(m.language.as_deref(), Some("fr"));
        let m = message(
            r#"{"extended_tweet":{"full_text":"long"},"created_at":"2021-11-27T10:18:33Z","id":-5,"includes":{"users":[7,{"username":"b"}]},"user_name":"u"}"#,
        )
        .unwrap();
        assert_eq!(
            (&*m.text, m.message_id, m.author.as_deref()),
            ("long", None, Some("u"))
        );
        assert!(
            message(r#"{"created_at":"someday","text":"t"}"#)
                .unwrap_err()
                .contains("someday")
        );
        for (json, tweet) in [
            (r#"{"created_at": null}"#, true),
            (r#"{"data": 1}"#, true),
            (r#"{"text": "hi"}"#, false),
            ("\"created_at\"", false),
        ] {
            assert_eq!(
                Tweet::parse(json).unwrap().looks_like_tweet(),
                tweet,
                "{json}"
            );
        }
    }

    /// The rules of [`Tweet::message`] over a `serde_json::Value` (how Pulse read tweets
    /// before): an independent answer to compare the borrowed reader with.
    fn by_value(v: &serde_json::Value) -> std::result::Result<MessageRow, String> {
        use serde_json::Value;
        let field = |v: &Value, keys: &[&str]| -> Option<String> {
            keys.iter()
                .find_map(|k| v.get(*k).and_then(Value::as_str))
                .map(str::to_string)
        };
        let t = v.get("data").filter(|d| d.is_object()).unwrap_or(v);
        if !t.is_object() {
            return Err("tweet is not a JSON object".into());
        }
        let text = field(t, &["full_text", "text"])
            .or_else(|| {
                t.get("extended_tweet")
                    .and_then(|e| field(e, &["full_text"]))
            })
            .ok_or("tweet has no text")?;
        let created = field(t, &["created_at"]).ok_or("tweet has no created_at")?;
        let event_time =
            parse_time(&created).ok_or_else(|| format!("unparseable created_at {created:?}"))?;
        let message_id = field(t, &["id_str", "id"])
            .or_else(|| t.get("id").and_then(Value::as_u64).map(|i| i.to_string()));
        let author = t
            .get("user")
            .and_then(|u| field(u, &["screen_name", "username"]))
            .or_else(|| {
                v.get("includes")
                    .and_then(|i| i.get("users"))
                    .and_then(|u| u.get(0))
                    .and_then(|u| field(u, &["username"]))
            })
            .or_else(|| field(t, &["author_id", "author", "user_name"]));
        Ok(MessageRow {
            event_time,
            source: "twitter".into(),
            message_id,
            channel: None,
            author,
            text,
            language: field(t, &["lang"]),
        })
    }

    /// A JSON value of any type where a tweet field may be.
    fn any_value(depth: u32) -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just("null".to_string()),
            Just("true".to_string()),
            Just("-5".to_string()),
            Just("7".to_string()),
            Just("1.5".to_string()),
            Just(r#""Wed Jul 18 21:33:26 +0000 2018""#.to_string()),
            Just(r#""2021-11-27T10:18:33.000Z""#.to_string()),
            "[a-z#\\\\\"é ]{0,8}".prop_map(|s| serde_json::to_string(&s).unwrap()),
        ];
        leaf.prop_recursive(depth, 24, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..3)
                    .prop_map(|v| format!("[{}]", v.join(","))),
                proptest::collection::vec((key(), inner), 0..4).prop_map(|kv| object(&kv)),
            ]
        })
    }

    fn key() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::strategy::Strategy;
        proptest::sample::select(vec![
            "data",
            "created_at",
            "full_text",
            "text",
            "extended_tweet",
            "id_str",
            "id",
            "user",
            "screen_name",
            "username",
            "includes",
            "users",
            "author_id",
            "author",
            "user_name",
            "lang",
            "other",
        ])
        .prop_map(str::to_string)
    }

    fn object(kv: &[(String, String)]) -> String {
        let fields: Vec<String> = kv.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
        format!("{{{}}}", fields.join(","))
    }

    /// Twitter's layout read by chrono (the reference for `twitter_time`).
    fn twitter_time_by_chrono(s: &str) -> Option<i64> {
        DateTime::parse_from_str(s, "%a %b %d %H:%M:%S %z %Y")
            .ok()
            .map(|t| t.timestamp_micros())
    }

    proptest::proptest! {
        #[test]
        fn twitter_times_of_any_fields_read_as_chrono_reads_them(
            wd in 0usize..7, mon in 0usize..12, day in 0u32..33, h in 0u32..26,
            m in 0u32..62, sec in 0u32..62, year in 1900u32..2101, sign in 0usize..2,
            zh in 0u32..26, zm in 0u32..100,
        ) {
            const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
            const MONTHS: [&str; 12] = [
                "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
            ];
            let s = format!(
                "{} {} {day:02} {h:02}:{m:02}:{sec:02} {}{zh:02}{zm:02} {year}",
                DAYS[wd], MONTHS[mon], ["+", "-"][sign]
            );
            // The hot path agrees with chrono; a leap second (60) or zone minutes past 59 are
            // left to chrono.
            let chrono = twitter_time_by_chrono(&s);
            proptest::prop_assert_eq!(parse_time(&s), chrono, "{}", s);
            if sec < 60 && zm < 60 {
                proptest::prop_assert_eq!(twitter_time(s.as_bytes()), chrono, "{}", s);
            }
        }

        #[test]
        fn borrowed_reader_agrees_with_the_value_rules(
            kv in proptest::collection::vec((key(), any_value(3)), 0..10),
        ) {
            let json = object(&kv);
            let v: serde_json::Value = serde_json::from_str(&json).unwrap();
            let got = message(&json).map(MessageRef::into_owned);
            proptest::prop_assert_eq!(got, by_value(&v), "{}", json);
            let t = Tweet::parse(&json).unwrap();
            proptest::prop_assert_eq!(
                t.looks_like_tweet(),
                v.get("created_at").is_some() || v.get("data").is_some()
            );
        }
    }

    proptest::proptest! {
        #[test]
        fn twitter_times_read_as_chrono_reads_them(secs in -2_000_000_000i64..4_000_000_000, off in -1439i32..1440) {
            let zone = chrono::FixedOffset::east_opt(off * 60).unwrap();
            let t = DateTime::from_timestamp(secs, 0).unwrap().with_timezone(&zone);
            let s = t.format("%a %b %d %H:%M:%S %z %Y").to_string();
            let chrono = DateTime::parse_from_str(&s, "%a %b %d %H:%M:%S %z %Y").ok().map(|t| t.timestamp_micros());
            proptest::prop_assert_eq!(twitter_time(s.as_bytes()), chrono);
            proptest::prop_assert_eq!(chrono, Some(secs * 1_000_000));
            // A wrong weekday is no time, as for chrono.
            let wrong = format!("{}{}", if s.starts_with("Mon") { "Tue" } else { "Mon" }, &s[3..]);
            proptest::prop_assert_eq!(twitter_time(wrong.as_bytes()), None);
            proptest::prop_assert_eq!(parse_time(&wrong), None);
        }
    }

    #[test]
    fn python_bytes_literals() {
        assert_eq!(
            python_bytes_literal(r"b'caf\xc3\xa9 \xe2\x80\xa6'"),
            "café …"
        );
        assert_eq!(python_bytes_literal(r#"b"it's""#), "it's");
        assert_eq!(python_bytes_literal("plain"), "plain");
    }
}
