//! The service's configuration, in layers: the compiled-in defaults
//! (`engine/config/default.toml`), then the file given with `--config`,
//! then environment variables `STREAMFLIX_<SECTION>__<KEY>` (and
//! `KAFKA_BOOTSTRAP` for the broker).

use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Format, Toml};
use serde::{Deserialize, Serialize};
use streamflix_connectors::kafka::KafkaSettings;

use crate::clock::HorizonDays;

/// The compiled-in defaults, documented key by key.
pub const DEFAULT_TOML: &str = include_str!("../config/default.toml");

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    pub kafka: KafkaSettings,
    pub time: TimeConfig,
    pub snapshots: SnapshotConfig,
    pub service: LoopConfig,
    pub runbooks: RunbooksConfig,
    pub retention: RetentionConfig,
    /// The query API, dashboards and `/metrics`.
    pub api: streamflix_api::ApiConfig,
}

/// The restatement horizons: how long after a period's end each kind of
/// feed may still change it (see `clock::Retention`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionConfig {
    /// `false` keeps every record and restates any period, as `replay`
    /// does by default: state then grows with history.
    pub enabled: bool,
    pub viewing_days: u32,
    pub subscriptions_days: u32,
    pub money_days: u32,
}

impl RetentionConfig {
    /// The horizons in force, `None` when retention is off.
    pub fn horizons(&self) -> Option<HorizonDays> {
        self.enabled.then_some(HorizonDays {
            viewing_days: self.viewing_days,
            subscriptions_days: self.subscriptions_days,
            money_days: self.money_days,
        })
    }
}

/// Where the runbooks come from and where incidents go.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunbooksConfig {
    /// A `pipelines.toml` to use instead of the compiled-in one ("" for that).
    pub pipelines: String,
    /// The Kafka topic incidents are produced to ("" for none).
    pub incidents_topic: String,
    /// A URL to POST PagerDuty-shaped events to ("" for none).
    pub webhook_url: String,
    pub webhook_routing_key: String,
    pub webhook_timeout_ms: u64,
    /// Tries per notification and sink, and the pause after the first failure.
    pub sink_attempts: u32,
    pub sink_backoff_ms: u64,
}

impl RunbooksConfig {
    /// The override file, if one is set.
    pub fn pipelines_file(&self) -> Option<&Path> {
        (!self.pipelines.is_empty()).then(|| Path::new(&self.pipelines))
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeConfig {
    pub zone: String,
    pub lateness_minutes: i64,
    pub idle_timeout_seconds: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnapshotConfig {
    pub dir: PathBuf,
    pub check_interval_ms: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoopConfig {
    /// The most messages in one batch (one epoch) of a worker; a batch
    /// closes earlier once the dataflow has finished the ones before it.
    pub batch_messages: usize,
    /// Stop once every partition has been read up to where it ended at
    /// start-up (after publishing what is due): a catch-up run.
    pub until_caught_up: bool,
    /// Under retention, how far (in hours of event time) a partition of a
    /// dense feed may read ahead of the cluster's slowest one while it
    /// catches up; 0 reads every partition as fast as it comes.
    pub read_ahead_hours: u32,
}

/// A configuration that cannot be used, with where the problem is.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(String);

impl ConfigError {
    pub fn new(message: impl Into<String>) -> ConfigError {
        ConfigError(message.into())
    }
}

impl ServiceConfig {
    /// Defaults, then `file`, then the environment.
    pub fn load(file: Option<&Path>) -> Result<ServiceConfig, ConfigError> {
        Self::load_from(file, std::env::vars())
    }

    /// [`ServiceConfig::load`] with the environment given, for tests.
    pub fn load_from(
        file: Option<&Path>,
        environment: impl IntoIterator<Item = (String, String)>,
    ) -> Result<ServiceConfig, ConfigError> {
        let mut figment = Figment::from(Toml::string(DEFAULT_TOML));
        if let Some(file) = file {
            if !file.is_file() {
                return Err(ConfigError(format!(
                    "{} does not exist or is not a file; pass the path of a TOML file (see engine/config/default.toml for every key)",
                    file.display()
                )));
            }
            figment = figment.merge(Toml::file(file));
        }
        let mut overrides = Vec::new();
        let mut bootstrap = None;
        for (name, value) in environment {
            if name == "KAFKA_BOOTSTRAP" {
                bootstrap = Some(value);
            } else if let Some(rest) = name.strip_prefix("STREAMFLIX_") {
                // Only nested keys are configuration: STREAMFLIX_PROFILE and
                // the like belong to other parts of the program.
                if rest.contains("__") {
                    overrides.push((rest.to_string(), value));
                }
            }
        }
        for (rest, value) in overrides {
            let mut parts: Vec<String> = rest.split("__").map(str::to_lowercase).collect();
            // librdkafka property names have dots, which environment
            // variable names cannot: kafka.properties.SASL_PASSWORD is
            // sasl.password.
            if parts.len() == 3 && parts[0] == "kafka" && parts[1] == "properties" {
                parts[2] = parts[2].replace('_', ".");
            }
            let value: toml::Value = value
                .parse::<toml::Value>()
                .ok()
                .filter(|parsed| !parsed.is_table() && !parsed.is_array())
                .unwrap_or(toml::Value::String(value));
            let mut nested = value;
            for part in parts.iter().rev() {
                let mut table = toml::map::Map::new();
                table.insert(part.clone(), nested);
                nested = toml::Value::Table(table);
            }
            let text = toml::to_string(&nested).map_err(|error| ConfigError(error.to_string()))?;
            figment = figment.merge(Toml::string(&text));
        }
        let mut config: ServiceConfig = figment
            .extract()
            .map_err(|error| ConfigError(error.to_string()))?;
        if let Some(bootstrap) = bootstrap {
            config.kafka.bootstrap = bootstrap;
        }
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.time.lateness_minutes < 0 {
            return Err(ConfigError(
                "time.lateness_minutes must be 0 or more".into(),
            ));
        }
        if self.time.idle_timeout_seconds.is_nan() || self.time.idle_timeout_seconds <= 0.0 {
            return Err(ConfigError(
                "time.idle_timeout_seconds must be more than 0".into(),
            ));
        }
        if self.retention.enabled && self.retention.viewing_days == 0 {
            return Err(ConfigError(
                "retention.viewing_days must be at least 1: a day's viewing must be able to arrive after the day (set retention.enabled = false to keep everything)".into(),
            ));
        }
        if self.service.batch_messages == 0 {
            return Err(ConfigError(
                "service.batch_messages must be at least 1".into(),
            ));
        }
        self.api.validate().map_err(ConfigError)?;
        streamflix_model::Calendar::new(&self.time.zone)
            .map_err(|error| ConfigError(format!("time.zone: {error}")))?;
        for feed in self.kafka.topics.keys().chain(&self.kafka.feeds) {
            if streamflix_model::Feed::ALL
                .iter()
                .all(|known| known.name() != feed)
            {
                return Err(ConfigError(format!(
                    "kafka.topics or kafka.feeds names an unknown feed {feed:?}; feeds are {}",
                    streamflix_model::Feed::ALL
                        .map(|feed| feed.name())
                        .join(", ")
                )));
            }
        }
        Ok(())
    }

    pub fn idle_timeout(&self) -> Duration {
        Duration::from_secs_f64(self.time.idle_timeout_seconds)
    }

    pub fn lateness_ms(&self) -> i64 {
        self.time.lateness_minutes * 60_000
    }

    /// [`LoopConfig::read_ahead_hours`] in milliseconds.
    pub fn read_ahead_ms(&self) -> i64 {
        i64::from(self.service.read_ahead_hours) * 3_600_000
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_then_file_then_environment() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("service.toml");
        std::fs::write(
            &file,
            "[kafka]\nbootstrap = \"file:9092\"\npartitions = 8\n[kafka.properties]\n\"security.protocol\" = \"SASL_SSL\"\n[time]\nidle_timeout_seconds = 2.5\n",
        )
        .unwrap();
        let config = ServiceConfig::load_from(
            Some(&file),
            env(&[
                ("STREAMFLIX_KAFKA__PARTITIONS", "12"),
                ("STREAMFLIX_KAFKA__PROPERTIES__SASL_PASSWORD", "secret"),
                ("STREAMFLIX_PROFILE", "1"),
            ]),
        )
        .unwrap();
        assert_eq!(config.kafka.bootstrap, "file:9092");
        assert_eq!(config.kafka.partitions, 12);
        assert_eq!(config.kafka.properties["security.protocol"], "SASL_SSL");
        assert_eq!(config.kafka.properties["sasl.password"], "secret");
        assert_eq!(config.time.idle_timeout_seconds, 2.5);
        assert_eq!(config.time.lateness_minutes, 60);
        assert_eq!(config.kafka.snapshots_topic, "streamflix.snapshots");
        assert!(config.api.enabled);
        assert_eq!(config.api.bind.to_string(), "127.0.0.1:8080");
        assert!(config.api.tokens.is_empty());
        assert_eq!(
            config.retention.horizons(),
            Some(HorizonDays {
                viewing_days: 3,
                subscriptions_days: 35,
                money_days: 35,
            })
        );
        let overridden =
            ServiceConfig::load_from(Some(&file), env(&[("KAFKA_BOOTSTRAP", "env:1")])).unwrap();
        assert_eq!(overridden.kafka.bootstrap, "env:1");
    }

    #[test]
    fn mistakes_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("bad.toml");
        std::fs::write(&file, "[kafka]\nbootstrapp = \"x\"\n").unwrap();
        let error = ServiceConfig::load_from(Some(&file), env(&[])).unwrap_err();
        assert!(error.to_string().contains("bootstrapp"), "{error}");
        let error =
            ServiceConfig::load_from(None, env(&[("STREAMFLIX_TIME__ZONE", "Mars/Olympus")]))
                .unwrap_err();
        assert!(error.to_string().contains("Mars/Olympus"), "{error}");
        std::fs::write(
            &file,
            "[[api.tokens]]\nname = \"ana\"\nrole = \"investor\"\ntoken = \"short\"\n",
        )
        .unwrap();
        let error = ServiceConfig::load_from(Some(&file), env(&[])).unwrap_err();
        assert!(error.to_string().contains("ana"), "{error}");
        assert!(!error.to_string().contains("short"), "{error}");
        let error =
            ServiceConfig::load_from(Some(&dir.path().join("missing.toml")), env(&[])).unwrap_err();
        assert!(error.to_string().contains("missing.toml"), "{error}");
    }
}
