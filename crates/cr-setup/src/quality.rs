//! `[quality]`: the thresholds past which a sealed set is flagged `quality`; the schema
//! and the assessment are cr-types' ([`cr_types::QualityThresholds`]).

use cr_types::QualityThresholds;
use cr_config::{Config, ConfigError};

/// `[quality]` validated, or its problems at their line and key; the defaults (loss > 1 %,
/// longest gap > 2000 ms, silence > 95 %, one-sided) without the section.
pub fn quality_from_config(cfg: &Config) -> Result<QualityThresholds, Vec<ConfigError>> {
    let t = cfg.section::<QualityThresholds>("quality").map_err(|e| vec![e])?.unwrap_or_default();
    t.check().map_err(|(key, message)| vec![cfg.error_at(&format!("quality.{key}"), message)])?;
    Ok(t)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const BASE: &str = "[installation]\nmodule_id = \"m\"\ndata_dir = \"/tmp/x\"\n";

    #[test]
    fn defaults_values_and_bad_values_at_their_line() {
        let cfg = Config::parse(BASE, "c.toml").unwrap();
        assert_eq!(quality_from_config(&cfg).unwrap(), QualityThresholds::default());
        let cfg = Config::parse(&format!("{BASE}\n[quality]\nmax_loss_percent = 2.5\none_sided = false\n"), "c.toml").unwrap();
        let t = quality_from_config(&cfg).unwrap();
        assert_eq!((t.max_loss_percent.get(), t.one_sided, t.max_gap_ms), (2.5, false, 2000));
        let cfg = Config::parse(&format!("{BASE}\n[quality]\nmax_silence_percent = 150\n"), "c.toml").unwrap();
        let e = quality_from_config(&cfg).unwrap_err();
        assert_eq!((e[0].line, e[0].key.as_str()), (Some(6), "quality.max_silence_percent"), "{}", e[0]);
        let cfg = Config::parse(&format!("{BASE}\n[quality]\nmax_gap = 3\n"), "c.toml").unwrap();
        let e = quality_from_config(&cfg).unwrap_err();
        assert!(e[0].to_string().contains("max_gap"), "{}", e[0]);
    }
}
