//! The Nexmark event model, as JSON lines with a `type` field and Nexmark's field names
//! (`dateTime` and `expires` as `YYYY-MM-DD HH:MM:SS.mmm` UTC; integers of epoch
//! milliseconds are read too).

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::time::{Ts, format_ts, parse_ts};

/// A person registering.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Person {
    /// Person id.
    pub id: i64,
    /// Full name.
    pub name: String,
    /// E-mail.
    pub email_address: String,
    /// Card number.
    pub credit_card: String,
    /// City.
    pub city: String,
    /// US state, upper case.
    pub state: String,
    /// Event time.
    #[serde(with = "ts_text")]
    pub date_time: Ts,
    /// Padding.
    pub extra: String,
}

/// An auction opening.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Auction {
    /// Auction id.
    pub id: i64,
    /// Item.
    pub item_name: String,
    /// Description.
    pub description: String,
    /// Opening bid.
    pub initial_bid: i64,
    /// Reserve price.
    pub reserve: i64,
    /// Event time (the auction opens).
    #[serde(with = "ts_text")]
    pub date_time: Ts,
    /// When the auction closes.
    #[serde(with = "ts_text")]
    pub expires: Ts,
    /// Seller (a person id).
    pub seller: i64,
    /// Category.
    pub category: i64,
    /// Padding.
    pub extra: String,
}

/// A bid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Bid {
    /// Auction id.
    pub auction: i64,
    /// Bidder (a person id).
    pub bidder: i64,
    /// Price in cents.
    pub price: i64,
    /// Channel.
    pub channel: String,
    /// URL.
    pub url: String,
    /// Event time.
    #[serde(with = "ts_text")]
    pub date_time: Ts,
    /// Padding.
    pub extra: String,
}

/// One event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Event {
    /// A person.
    Person(Person),
    /// An auction.
    Auction(Auction),
    /// A bid.
    Bid(Bid),
}

impl Event {
    /// Its event time.
    pub fn ts(&self) -> Ts {
        match self {
            Event::Person(p) => p.date_time,
            Event::Auction(a) => a.date_time,
            Event::Bid(b) => b.date_time,
        }
    }

    /// Parses one JSON line, naming what is wrong.
    pub fn parse(line: &str) -> Result<Event, String> {
        serde_json::from_str(line).map_err(|e| format!("not a Nexmark event: {e}"))
    }

    /// One JSON line (without the newline).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("events serialize")
    }
}

mod ts_text {
    use super::*;

    pub fn serialize<S: Serializer>(ts: &Ts, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_ts(*ts))
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw<'a> {
        Int(i64),
        Text(&'a str),
        Owned(String),
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Ts, D::Error> {
        let text = match Raw::deserialize(d)? {
            Raw::Int(n) => return Ok(n),
            Raw::Text(t) => t.to_string(),
            Raw::Owned(t) => t,
        };
        parse_ts(&text).ok_or_else(|| serde::de::Error::custom(format!("bad timestamp {text:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip_through_json_lines() {
        let b = Event::Bid(Bid {
            auction: 1001,
            bidder: 2001,
            price: 123,
            channel: "Google".into(),
            url: "https://x".into(),
            date_time: 1_436_918_400_123,
            extra: String::new(),
        });
        let j = b.to_json();
        assert!(j.starts_with(r#"{"type":"bid","auction":1001"#), "{j}");
        assert!(j.contains(r#""dateTime":"2015-07-15 00:00:00.123""#), "{j}");
        assert_eq!(Event::parse(&j).unwrap(), b);
        let e = Event::parse(r#"{"type":"bid","auction":1,"bidder":2,"price":3,"channel":"c","url":"u","dateTime":5,"extra":""}"#).unwrap();
        assert_eq!(e.ts(), 5);
        assert!(
            Event::parse(r#"{"type":"car"}"#)
                .unwrap_err()
                .contains("not a Nexmark event")
        );
    }
}
