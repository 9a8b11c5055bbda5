//! Parsers shared by the sources: timestamps in the shapes real Twitch and Twitter exports use,
//! display counts ("16.5K viewers", "492.4 mil espectadores"), and tweets in the Twitter v1.1
//! and v2 JSON shapes. Times without a zone are taken as UTC.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::Value;

use crate::records::MessageRow;

/// Parses a timestamp into microseconds since the epoch (UTC).
pub fn parse_time(s: &str) -> Option<i64> {
    let s = s.trim();
    if s.is_empty() {
        return None;
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

fn str_field<'a>(v: &'a Value, keys: &[&str]) -> Option<&'a str> {
    keys.iter().find_map(|k| v.get(*k).and_then(Value::as_str))
}

/// A tweet in the Twitter v1.1 shape (`created_at` like `Wed Jul 18 21:33:26 +0000 2018`,
/// `user.screen_name`, `full_text` or `text`) or the v2 shape (`{"data": {...}}` or flat, with
/// ISO `created_at` and `author_id`) as a `messages` row.
pub fn tweet_from_json(v: &Value) -> Result<MessageRow, String> {
    let t = v.get("data").filter(|d| d.is_object()).unwrap_or(v);
    if !t.is_object() {
        return Err("tweet is not a JSON object".into());
    }
    let text = str_field(t, &["full_text", "text"])
        .or_else(|| {
            t.get("extended_tweet")
                .and_then(|e| str_field(e, &["full_text"]))
        })
        .ok_or("tweet has no text")?;
    let created = str_field(t, &["created_at"]).ok_or("tweet has no created_at")?;
    let event_time =
        parse_time(created).ok_or_else(|| format!("unparseable created_at {created:?}"))?;
    let id = str_field(t, &["id_str", "id"])
        .map(str::to_string)
        .or_else(|| t.get("id").and_then(Value::as_u64).map(|i| i.to_string()));
    let author = t
        .get("user")
        .and_then(|u| str_field(u, &["screen_name", "username"]))
        .or_else(|| {
            v.get("includes")
                .and_then(|i| i.get("users"))
                .and_then(|u| u.get(0))
                .and_then(|u| str_field(u, &["username"]))
        })
        .or_else(|| str_field(t, &["author_id", "author", "user_name"]))
        .map(str::to_string);
    Ok(MessageRow {
        event_time,
        source: "twitter".into(),
        message_id: id,
        channel: None,
        author,
        text: text.to_string(),
        language: str_field(t, &["lang"]).map(str::to_string),
    })
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

    #[test]
    fn tweets_v11_and_v2() {
        let v11: Value = serde_json::from_str(
            r#"{"created_at":"Wed Jul 18 21:33:26 +0000 2018","id_str":"42","text":"x","full_text":"hello #a","user":{"screen_name":"bob"},"lang":"en"}"#,
        )
        .unwrap();
        let m = tweet_from_json(&v11).unwrap();
        assert_eq!(
            (
                m.text.as_str(),
                m.author.as_deref(),
                m.message_id.as_deref()
            ),
            ("hello #a", Some("bob"), Some("42"))
        );
        let v2: Value = serde_json::from_str(
            r#"{"data":{"id":"7","text":"hi","created_at":"2021-11-27T10:18:33.000Z","author_id":"99","lang":"de"},"includes":{"users":[{"username":"ann"}]}}"#,
        )
        .unwrap();
        let m = tweet_from_json(&v2).unwrap();
        assert_eq!(
            (m.author.as_deref(), m.language.as_deref()),
            (Some("ann"), Some("de"))
        );
        assert!(tweet_from_json(&serde_json::json!({"text": "no time"})).is_err());
        assert!(tweet_from_json(&serde_json::json!([1, 2])).is_err());
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
