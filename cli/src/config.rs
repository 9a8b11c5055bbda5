//! Pulse's configuration: one typed struct, layered as built-in defaults < `pulse.toml` (or
//! `--config FILE`) < `PULSE__SECTION__KEY` environment variables < command-line flags.
//! Durations are written like `"60s"` or `"5m"`. Unknown keys are errors, so a typo is caught.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use pulse_ingest::twitch::TwitchConfig;
use pulse_lake::S3Config;
use serde::{Deserialize, Serialize};

/// Where the lake is.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LakeSection {
    /// A path, `file://` or `s3://bucket/prefix` URL.
    pub url: String,
}

impl Default for LakeSection {
    fn default() -> Self {
        LakeSection {
            url: "./pulse-lake".into(),
        }
    }
}

/// Flush and framing settings shared by the ingest workers.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct IngestSection {
    /// Flush at least this often.
    #[serde(with = "humantime_serde")]
    pub flush_interval: Duration,
    /// Flush when this many records are buffered.
    pub flush_rows: usize,
    /// Largest socket frame, in bytes.
    pub max_frame: usize,
}

impl Default for IngestSection {
    fn default() -> Self {
        IngestSection {
            flush_interval: Duration::from_secs(60),
            flush_rows: 500_000,
            max_frame: 1 << 20,
        }
    }
}

/// The whole configuration.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// `[lake]`
    pub lake: LakeSection,
    /// `[s3]`: endpoint, region, credentials, allow_http (the `AWS_*` variables fill gaps).
    pub s3: S3Config,
    /// `[ingest]`
    pub ingest: IngestSection,
    /// `[twitch]`
    pub twitch: TwitchConfig,
}

impl Config {
    /// Loads the layers below the flags. `file` is `--config`; without it `pulse.toml` in the
    /// working directory is read if present.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Config> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        match file {
            Some(f) => {
                anyhow::ensure!(f.exists(), "config file {} does not exist", f.display());
                fig = fig.merge(Toml::file(f));
            }
            None => fig = fig.merge(Toml::file("pulse.toml")),
        }
        fig = fig.merge(Env::prefixed("PULSE__").split("__"));
        let mut cfg: Config = fig.extract().context("invalid configuration")?;
        // Secrets are not serialised, so take them from the layers directly.
        let secret = |key: &str| fig.extract_inner::<String>(key).ok();
        cfg.twitch.client_secret = secret("twitch.client_secret");
        cfg.twitch.user_token = secret("twitch.user_token");
        // The standard Twitch variables fill what the config leaves unset.
        if cfg.twitch.client_id.is_none() {
            cfg.twitch.client_id = std::env::var("TWITCH_CLIENT_ID").ok();
        }
        if cfg.twitch.client_secret.is_none() {
            cfg.twitch.client_secret = std::env::var("TWITCH_CLIENT_SECRET").ok();
        }
        Ok(cfg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::result_large_err)]
    fn layers_apply_in_order_and_unknown_keys_fail() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "pulse.toml",
                "[lake]\nurl = \"from-file\"\n[ingest]\nflush_rows = 7\nflush_interval = \"5s\"\n",
            )?;
            let c = Config::load(None).map_err(|e| e.to_string())?;
            assert_eq!(c.lake.url, "from-file");
            assert_eq!(c.ingest.flush_rows, 7);
            assert_eq!(c.ingest.flush_interval, Duration::from_secs(5));
            assert_eq!(c.ingest.max_frame, 1 << 20);
            jail.set_env("PULSE__LAKE__URL", "from-env");
            jail.set_env("PULSE__TWITCH__CLIENT_SECRET", "s3cr3t");
            let c = Config::load(None).map_err(|e| e.to_string())?;
            assert_eq!(c.lake.url, "from-env");
            assert_eq!(c.twitch.client_secret.as_deref(), Some("s3cr3t"));
            jail.create_file("bad.toml", "[ingest]\nflush_rowz = 1\n")?;
            let err = Config::load(Some(Path::new("bad.toml"))).unwrap_err();
            assert!(format!("{err:#}").contains("flush_rowz"), "{err:#}");
            Ok(())
        });
    }
}
